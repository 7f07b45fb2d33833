"""Signing in to the operator screens, and what a signed-out browser gets."""

from collections.abc import Callable

from playwright.sync_api import Page, expect

from fixtures.mes import ScreenUser
from tests.ui.pages.login_page import LoginPage
from tests.ui.pages.queue_page import QueuePage


def test_an_operator_signs_in_to_the_queue_of_their_plant_and_work_center(
    signed_in: Callable[[ScreenUser], QueuePage], operator: ScreenUser
) -> None:
    queue = signed_in(operator)

    expect(queue.heading).to_have_text(
        f"Order queue · plant {operator.plant} · {operator.work_center}"
    )
    expect(queue.page.get_by_role("banner")).to_contain_text(f"Signed in as {operator.name}")


def test_a_wrong_password_is_refused_with_a_message(page: Page, operator: ScreenUser) -> None:
    login = LoginPage(page).open()

    login.sign_in(operator.login, operator.password + "x")

    expect(login.alert).to_have_text("Wrong login or password.")
    expect(login.login).to_have_value(operator.login)


def test_empty_fields_are_named_in_validation_messages(page: Page) -> None:
    login = LoginPage(page).open()

    login.sign_in("", "")

    expect(login.login).to_have_attribute("aria-invalid", "true")
    expect(login.field_error(login.login)).to_have_text("Enter your login.")
    expect(login.field_error(login.password)).to_have_text("Enter your password.")


def test_a_signed_out_browser_is_sent_to_sign_in(page: Page) -> None:
    page.goto("/screens/queue")

    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_signing_out_ends_the_session(
    signed_in: Callable[[ScreenUser], QueuePage], operator: ScreenUser
) -> None:
    queue = signed_in(operator)

    queue.page.get_by_role("button", name="Sign out").click()

    expect(queue.page.get_by_role("status")).to_have_text("You are signed out.")
    queue.page.goto("/screens/queue")
    expect(queue.page.get_by_role("heading", name="Sign in")).to_be_visible()
