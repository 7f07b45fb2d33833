"""axe-core on every screen: serious and critical violations fail, named by rule and element."""

from collections.abc import Callable

import allure
from playwright.sync_api import Page, expect

from fixtures.mes import MesFactory, Plant, ScreenUser
from preflight.accessibility import serious_violations
from tests.ui.pages.board_page import BoardPage
from tests.ui.pages.login_page import LoginPage
from tests.ui.pages.queue_page import QueuePage


def test_every_screen_has_no_serious_accessibility_violations(
    page: Page,
    mes_factory: MesFactory,
    plant: Plant,
    signed_in: Callable[[ScreenUser], QueuePage],
    operator: ScreenUser,
    planner: ScreenUser,
) -> None:
    order = mes_factory.create_order(plant, status="in_progress")
    ref = order["order_ref"]
    found: list[str] = []

    def check(on: Page, screen: str) -> None:
        with allure.step(f"axe: {screen}"):
            found.extend(serious_violations(on, screen))

    login = LoginPage(page).open()
    check(page, "sign-in")
    login.sign_in("", "")
    expect(login.alert.or_(page.get_by_text("Enter your login."))).to_be_visible()
    check(page, "sign-in with errors")

    queue = signed_in(operator)
    check(queue.page, "queue")
    queue.search("NO-SUCH-ORDER")
    expect(queue.empty).to_be_visible()
    check(queue.page, "queue, empty")
    detail = queue.search(ref).open_order(ref)
    check(queue.page, "order detail")
    detail.fill_scrap(None, "0", "")
    expect(detail.field_error("Reason")).to_be_visible()
    check(queue.page, "order detail, scrap errors")
    detail.start_button(1).click()
    expect(queue.page.get_by_role("alertdialog")).to_be_visible()
    check(queue.page, "confirmation")
    queue.page.goto("/screens/board")
    expect(queue.page.get_by_role("heading", name="Not allowed")).to_be_visible()
    check(queue.page, "not allowed")

    board = BoardPage(signed_in(planner).page).open()
    check(board.page, "planner board")

    assert not found, "accessibility violations:\n" + "\n".join(found)


def test_the_check_names_the_rule_and_element_of_a_violation(page: Page) -> None:
    page.set_content(
        '<!doctype html><html lang="en"><head><title>t</title></head>'
        '<body><main><input id="nameless"></main></body></html>'
    )

    found = serious_violations(page, "broken page")

    assert any("label" in line and "#nameless" in line for line in found), found
