"""The sign-in screen."""

from __future__ import annotations

from typing import TYPE_CHECKING

from playwright.sync_api import Locator, Page, expect

if TYPE_CHECKING:
    from fixtures.mes import ScreenUser
    from tests.ui.pages.queue_page import QueuePage


class LoginPage:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.login = page.get_by_label("Login", exact=True)
        self.password = page.get_by_label("Password", exact=True)
        self.submit = page.get_by_role("button", name="Sign in")
        self.alert = page.get_by_role("alert")

    def open(self) -> LoginPage:
        self.page.goto("/screens/login")
        expect(self.page.get_by_role("heading", name="Sign in")).to_be_visible()
        return self

    def sign_in(self, login: str, password: str) -> None:
        self.login.fill(login)
        self.password.fill(password)
        self.submit.click()

    def sign_in_as(self, user: ScreenUser) -> QueuePage:
        from tests.ui.pages.queue_page import QueuePage

        self.sign_in(user.login, user.password)
        queue = QueuePage(self.page)
        expect(queue.heading).to_be_visible()
        return queue

    def field_error(self, field: Locator) -> Locator:
        """The message tied to a field through aria-describedby."""
        return self.page.locator(f"#{field.get_attribute('aria-describedby')}")
