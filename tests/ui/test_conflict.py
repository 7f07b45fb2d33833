"""Two operators on one order: the second sees a conflict, not a silent overwrite."""

from collections.abc import Callable

from playwright.sync_api import expect

from fixtures.mes import MesFactory, Plant, ScreenUser
from tests.ui.pages.queue_page import QueuePage


def test_the_second_operator_sees_a_conflict(
    mes_factory: MesFactory,
    plant: Plant,
    signed_in: Callable[[ScreenUser], QueuePage],
    operator: ScreenUser,
) -> None:
    colleague = mes_factory.create_screen_user(plant.code, "operator", operator.work_center)
    order = mes_factory.create_order(plant, status="released")
    ref = order["order_ref"]
    first = signed_in(operator).search(ref).open_order(ref)
    second = signed_in(colleague).search(ref).open_order(ref)

    first.start(1)
    second.ask_to_start(1).confirm()

    expect(second.alert).to_contain_text("Someone else changed this order")
    expect(second.status).to_have_text("in progress")  # what the first operator did stands
    expect(second.operation_row(1)).to_contain_text("in progress")
    expect(second.complete_button(1)).to_be_visible()
