"""An operator works an order: starts and completes its operations, reports scrap."""

from playwright.sync_api import expect

from fixtures.mes import MesFactory, Plant
from tests.ui.pages.queue_page import QueuePage


def test_an_operator_starts_and_completes_every_operation(
    mes_factory: MesFactory, plant: Plant, operator_queue: QueuePage
) -> None:
    order = mes_factory.create_order(plant, status="released")
    steps = [op["seq"] for op in order["operations"]]
    page = operator_queue.search(order["order_ref"]).open_order(order["order_ref"])

    for seq in steps:
        page.start(seq)
        expect(page.status).to_have_text("in progress")
        expect(page.operation_row(seq)).to_contain_text("in progress")
        page.complete(seq)
        expect(page.operation_row(seq)).to_contain_text("done")

    expect(page.status).to_have_text("completed")
    expect(page.start_button(1)).to_have_count(0)


def test_cancelling_the_confirmation_changes_nothing(
    mes_factory: MesFactory, plant: Plant, operator_queue: QueuePage
) -> None:
    order = mes_factory.create_order(plant, status="released")
    page = operator_queue.search(order["order_ref"]).open_order(order["order_ref"])

    page.ask_to_start(1).cancel_link.click()

    expect(page.status).to_have_text("released")
    expect(page.operation_row(1)).to_contain_text("pending")


def test_scrap_is_validated_then_reported(
    mes_factory: MesFactory, plant: Plant, operator_queue: QueuePage
) -> None:
    order = mes_factory.create_order(plant, status="released")
    page = operator_queue.search(order["order_ref"]).open_order(order["order_ref"])
    page.start(1)
    operation = f"1 · {order['operations'][0]['description']}"

    page.fill_scrap(None, str(order["quantity"] + 1), "")

    expect(page.field_error("Operation")).to_have_text("Choose the operation the scrap came from.")
    expect(page.field_error("Scrapped quantity")).to_have_text(
        f"Enter a whole number from 1 to {order['quantity']}."
    )
    expect(page.field_error("Reason")).to_have_text("Describe the reason in at least 3 characters.")

    page.fill_scrap(operation, "1", "Chipped edge")
    page.page.get_by_role("alertdialog").get_by_role("button", name="Confirm").click()

    expect(page.notice).to_have_text("Scrap reported.")
    expect(page.scrap_table).to_contain_text("Chipped edge")
