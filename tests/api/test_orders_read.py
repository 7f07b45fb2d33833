"""Reading orders: by id, and in filtered, sorted, paginated lists."""

import threading
from datetime import date, timedelta
from typing import Any

import pytest

from fixtures.mes import MesFactory, Plant
from preflight.clients.mes import MesClient
from preflight.expect import expect_problem, expect_status
from preflight.targets import Target
from preflight.waits import wait_until


@pytest.mark.parametrize("order_id", ["0b0f6c1e-5d37-4a43-9b8d-2a4c1f0e9d11", "not-a-uuid"])
def test_an_unknown_order_is_not_found(mes: MesClient, order_id: str) -> None:
    expect_problem(mes.get_order(order_id), 404, "not-found")


def test_filters_select_by_status_plant_work_center_and_due_date(
    mes: MesClient, mes_factory: MesFactory, plant: Plant
) -> None:
    soon = (date.today() + timedelta(days=2)).isoformat()
    later = (date.today() + timedelta(days=40)).isoformat()
    first_wc, second_wc = plant.work_centers[0], plant.work_centers[1]
    op = {"description": "machining", "planned_minutes": 30}
    planned_soon = mes_factory.create_order(
        plant, due_date=soon, operations=[{"work_center": first_wc, **op}]
    )
    released_later = mes_factory.create_order(
        plant, status="released", due_date=later, operations=[{"work_center": second_wc, **op}]
    )
    held_soon = mes_factory.create_order(
        plant, status="on_hold", due_date=soon, operations=[{"work_center": second_wc, **op}]
    )
    mes_factory.create_order(mes_factory.create_plant())

    def ids(**filters: Any) -> set[str]:
        return {order["id"] for order in mes.iter_orders(plant=plant.code, **filters)}

    assert ids() == {planned_soon["id"], released_later["id"], held_soon["id"]}
    assert ids(status="released") == {released_later["id"]}
    assert ids(status=["planned", "on_hold"]) == {planned_soon["id"], held_soon["id"]}
    assert ids(work_center=second_wc) == {released_later["id"], held_soon["id"]}
    assert ids(due_before=(date.today() + timedelta(days=10)).isoformat()) == {
        planned_soon["id"],
        held_soon["id"],
    }
    assert ids(status="released", work_center=first_wc) == set()


@pytest.mark.parametrize(
    "sort", ["created_at", "-created_at", "due_date", "-due_date", "priority", "-priority"]
)
def test_lists_are_sorted_with_the_id_breaking_ties(
    mes: MesClient, mes_factory: MesFactory, plant: Plant, sort: str
) -> None:
    for _ in range(7):
        mes_factory.create_order(plant)
    field, descending = sort.lstrip("-"), sort.startswith("-")

    listed = list(mes.iter_orders(plant=plant.code, sort=sort, limit=3))

    keys = [(order[field], order["id"]) for order in listed]
    assert len(keys) == 7
    assert keys == sorted(keys, reverse=descending)


def test_pages_follow_the_cursor_to_the_end(
    mes: MesClient, mes_factory: MesFactory, plant: Plant
) -> None:
    created = {mes_factory.create_order(plant)["id"] for _ in range(5)}

    first = expect_status(mes.list_orders(plant=plant.code, limit=2), 200)
    second = expect_status(
        mes.list_orders(plant=plant.code, limit=2, cursor=first["next_cursor"]), 200
    )
    third = expect_status(
        mes.list_orders(plant=plant.code, limit=2, cursor=second["next_cursor"]), 200
    )

    assert [len(page["items"]) for page in (first, second, third)] == [2, 2, 1]
    assert third["next_cursor"] is None
    assert {o["id"] for page in (first, second, third) for o in page["items"]} == created


@pytest.mark.parametrize("sort", ["created_at", "-priority", "due_date"])
def test_paging_while_orders_are_inserted_shows_every_existing_order_exactly_once(
    mes: MesClient, mes_factory: MesFactory, plant: Plant, target: Target, run_id: str, sort: str
) -> None:
    existing = {mes_factory.create_order(plant)["id"] for _ in range(30)}
    inserted: list[str] = []
    stop = threading.Event()

    def insert_concurrently() -> None:
        with MesClient(target.url("mes"), headers=target.headers, run_id=run_id) as writer:
            while not stop.is_set() and len(inserted) < 100:
                inserted.append(
                    expect_status(writer.create_order(mes_factory.build_order(plant)), 201)["id"]
                )

    writer = threading.Thread(target=insert_concurrently)
    writer.start()
    try:
        wait_until(lambda: len(inserted) > 0, timeout=10, description="the first concurrent insert")
        listed = [order["id"] for order in mes.iter_orders(plant=plant.code, sort=sort, limit=3)]
        inserted_while_paging = len(inserted)
    finally:
        stop.set()
        writer.join(timeout=30)

    assert inserted_while_paging > 1, "the writer made no progress while the pages were read"
    assert len(listed) == len(set(listed)), "an order appeared on two pages"
    assert existing - set(listed) == set(), "an order that existed before paging was skipped"
    assert set(listed) <= existing | set(inserted)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"sort": "order_ref"}, "sort"),
        ({"status": "shipped"}, "status"),
        ({"due_before": "soon"}, "due_before"),
    ],
)
def test_bad_list_parameters_are_refused(
    mes: MesClient, params: dict[str, Any], field: str
) -> None:
    problem = expect_problem(mes.list_orders(**params), 422, "validation-error")
    assert field in problem["detail"]


def test_a_cursor_only_works_with_the_sort_it_came_from(
    mes: MesClient, mes_factory: MesFactory, plant: Plant
) -> None:
    for _ in range(3):
        mes_factory.create_order(plant)
    cursor = expect_status(mes.list_orders(plant=plant.code, limit=1, sort="priority"), 200)[
        "next_cursor"
    ]

    expect_problem(
        mes.list_orders(plant=plant.code, limit=1, sort="due_date", cursor=cursor),
        422,
        "validation-error",
    )
    expect_problem(mes.list_orders(cursor="bm90LWEtY3Vyc29y"), 422, "validation-error")


def test_updated_since_lists_what_changed_in_order_of_change(
    mes: MesClient, mes_factory: MesFactory, plant: Plant
) -> None:
    untouched, changed = mes_factory.create_order(plant), mes_factory.create_order(plant)
    since = expect_status(mes.transition(changed["id"], "release"), 200)["updated_at"]
    later = expect_status(mes.transition(untouched["id"], "hold"), 200)

    listed = list(mes.iter_orders(plant=plant.code, updated_since=since, sort="updated_at"))

    assert [o["id"] for o in listed] == [changed["id"], later["id"]]
    assert [o["version"] for o in listed] == [2, 2]
