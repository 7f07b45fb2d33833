"""Finding orders in the queue: search by ref, filters, sorting, pagination, empty state."""

from collections.abc import Callable

from playwright.sync_api import expect

from fixtures.mes import MesFactory, Plant, ScreenUser
from tests.ui.pages.queue_page import QueuePage

PAGE_SIZE = 25


def test_an_operator_finds_an_order_by_its_ref(
    mes_factory: MesFactory, plant: Plant, operator_queue: QueuePage
) -> None:
    orders = [mes_factory.create_order(plant, status="released") for _ in range(3)]
    wanted = orders[1]

    operator_queue.search(wanted["order_ref"])

    expect(operator_queue.order_rows).to_have_count(1)
    row = operator_queue.row(wanted["order_ref"])
    expect(row).to_contain_text(wanted["sku"])
    expect(row).to_contain_text("released")
    order = operator_queue.open_order(wanted["order_ref"])
    expect(order.status).to_have_text("released")


def test_an_unknown_ref_shows_the_empty_state(
    mes_factory: MesFactory, plant: Plant, operator_queue: QueuePage
) -> None:
    mes_factory.create_order(plant, status="released")

    operator_queue.search("NO-SUCH-ORDER")

    expect(operator_queue.empty).to_have_text("No orders match these filters.")
    expect(operator_queue.table).to_have_count(0)


def test_the_queue_filters_by_status_sorts_and_pages(
    mes_factory: MesFactory, plant: Plant, operator_queue: QueuePage
) -> None:
    planned = [mes_factory.create_order(plant) for _ in range(PAGE_SIZE + 1)]
    released = mes_factory.create_order(plant, status="released")
    queue = operator_queue.open()
    expect(queue.row(planned[0]["order_ref"])).to_have_count(0)  # default: released, in progress
    expect(queue.row(released["order_ref"])).to_have_count(1)

    queue.show(status="Planned", sort="Due date (earliest first)")

    expect(queue.order_rows).to_have_count(PAGE_SIZE)
    due_dates = [row.get_by_role("cell").nth(2).inner_text() for row in queue.order_rows.all()]
    assert due_dates == sorted(due_dates)
    queue.next_page.click()
    expect(queue.order_rows).to_have_count(1)
    last = max(planned, key=lambda o: (o["due_date"], o["id"]))
    expect(queue.row(last["order_ref"])).to_have_count(1)
    queue.first_page.click()
    expect(queue.order_rows).to_have_count(PAGE_SIZE)


def test_a_new_order_appears_in_a_queue_page_seen_before(
    mes_factory: MesFactory, plant: Plant, operator_queue: QueuePage
) -> None:
    """The page is cached in Redis; creating an order in the plant drops the cached pages."""
    first = mes_factory.create_order(plant, status="released")
    queue = operator_queue.open()
    expect(queue.row(first["order_ref"])).to_have_count(1)

    second = mes_factory.create_order(plant, status="released")
    queue.open()

    expect(queue.row(second["order_ref"])).to_have_count(1)


def test_a_planner_sees_every_work_center_of_the_plant(
    signed_in: Callable[[ScreenUser], QueuePage], planner: ScreenUser, plant: Plant
) -> None:
    queue = signed_in(planner)

    expect(queue.heading).to_have_text(f"Order queue · plant {plant.code}")
    expect(queue.work_center).to_have_value("")
