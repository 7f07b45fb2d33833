"""The planner board, and what each role may do in the screens."""

from collections.abc import Callable

from playwright.sync_api import expect

from fixtures.mes import MesFactory, Plant, ScreenUser
from tests.ui.pages.board_page import BoardPage
from tests.ui.pages.queue_page import QueuePage


def test_a_planner_releases_and_reprioritizes_and_the_operator_queue_shows_it(
    mes_factory: MesFactory,
    plant: Plant,
    signed_in: Callable[[ScreenUser], QueuePage],
    planner: ScreenUser,
    operator: ScreenUser,
) -> None:
    order = mes_factory.create_order(plant, priority=5)
    ref = order["order_ref"]
    operator_queue = signed_in(operator).search(ref)
    expect(operator_queue.empty).to_be_visible()  # planned: not in the operator's queue yet
    board = BoardPage(signed_in(planner).page).open().find(ref)

    board.act("Release", ref)
    expect(board.notice).to_have_text(f"Order {ref} released.")
    board.find(ref)
    board.set_priority(ref, 1)

    operator_queue.search(ref)
    row = operator_queue.row(ref)
    expect(row).to_contain_text("released")
    expect(row.get_by_role("cell").nth(3)).to_have_text("1")


def test_a_planner_holds_resumes_and_cancels(
    mes_factory: MesFactory,
    plant: Plant,
    signed_in: Callable[[ScreenUser], QueuePage],
    planner: ScreenUser,
) -> None:
    ref = mes_factory.create_order(plant, status="released")["order_ref"]
    board = BoardPage(signed_in(planner).page).open().find(ref)

    board.act("Hold", ref)
    expect(board.notice).to_have_text(f"Order {ref} put on hold.")
    board.find(ref)
    expect(board.row(ref)).to_contain_text("on hold")
    board.act("Resume", ref)
    board.find(ref)
    expect(board.row(ref)).to_contain_text("released")
    board.act("Cancel", ref)
    board.find(ref)
    expect(board.row(ref)).to_contain_text("cancelled")
    expect(board.page.get_by_role("button", name=f"Release {ref}")).to_have_count(0)


def test_an_operator_has_no_planner_board(operator_queue: QueuePage) -> None:
    expect(operator_queue.board_link).to_have_count(0)

    operator_queue.page.goto("/screens/board")

    expect(operator_queue.page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(operator_queue.page.get_by_role("alert")).to_have_text(
        "Only planners can use the planner board."
    )


def test_a_planner_cannot_start_operations(
    mes_factory: MesFactory,
    plant: Plant,
    signed_in: Callable[[ScreenUser], QueuePage],
    planner: ScreenUser,
) -> None:
    order = mes_factory.create_order(plant, status="released")
    queue = signed_in(planner)
    expect(queue.board_link).to_be_visible()

    page = queue.search(order["order_ref"]).open_order(order["order_ref"])

    expect(page.start_button(1)).to_have_count(0)
    expect(page.page.get_by_text("Operators start and complete operations")).to_be_visible()
