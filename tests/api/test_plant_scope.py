"""X-Plant-Scope: a caller scoped to some plants sees and changes nothing of the others.

The gateway sets the header from the caller's token; the MES enforces it, answering 404 for what
lies outside the scope so that nobody learns what exists in a plant they cannot see.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from fixtures.mes import MesFactory, Plant
from preflight.clients.mes import MesClient
from preflight.expect import expect_problem, expect_status
from preflight.targets import Target


@pytest.fixture
def scoped(target: Target, run_id: str, plant: Plant) -> Iterator[MesClient]:
    """A client that only sees `plant`."""
    headers = {**target.headers, "X-Plant-Scope": plant.code}
    with MesClient(target.url("mes"), headers=headers, run_id=run_id) as client:
        yield client


def test_an_order_of_another_plant_is_not_found(
    scoped: MesClient, mes_factory: MesFactory, plant: Plant
) -> None:
    mine = mes_factory.create_order(plant)
    theirs = mes_factory.create_order(mes_factory.create_plant())

    assert expect_status(scoped.get_order(mine["id"]), 200)["id"] == mine["id"]
    expect_problem(scoped.get_order(theirs["id"]), 404, "not-found")
    expect_problem(scoped.transition(theirs["id"], "release"), 404, "not-found")
    expect_problem(scoped.update_order(theirs["id"], {"priority": 1}), 404, "not-found")
    expect_problem(scoped.operation(theirs["id"], 1, "start"), 404, "not-found")


def test_lists_show_only_the_plants_in_scope(
    scoped: MesClient, mes_factory: MesFactory, plant: Plant
) -> None:
    mine = mes_factory.create_order(plant)
    other = mes_factory.create_plant()
    mes_factory.create_order(other)

    assert [o["id"] for o in scoped.iter_orders(plant=plant.code)] == [mine["id"]]
    assert list(scoped.iter_orders(plant=other.code)) == []
    assert expect_status(scoped.list_work_centers(other.code), 200)["items"] == []
    assert expect_status(scoped.list_products(other.code), 200)["items"] == []
    recent = datetime.now(UTC) - timedelta(minutes=5)
    assert {o["plant"] for o in scoped.iter_orders(updated_since=recent, limit=200)} == {plant.code}


def test_nothing_can_be_created_in_a_plant_out_of_scope(
    scoped: MesClient, mes_factory: MesFactory, plant: Plant
) -> None:
    other = mes_factory.create_plant()
    expect_problem(scoped.create_order(mes_factory.build_order(other)), 404, "not-found")
    expect_problem(scoped.create_work_center(other.code, "CNC-77", "Lathe"), 404, "not-found")
    expect_problem(scoped.create_operator("Ann", other.code), 404, "not-found")
    expect_status(scoped.create_order(mes_factory.build_order(plant)), 201)


def test_a_cached_order_does_not_leak_across_plants(
    mes: MesClient, scoped: MesClient, mes_factory: MesFactory
) -> None:
    theirs = mes_factory.create_order(mes_factory.create_plant())
    mes.get_order(theirs["id"])
    assert mes.get_order(theirs["id"]).headers["x-cache"] == "hit"
    expect_problem(scoped.get_order(theirs["id"]), 404, "not-found")
