"""The planner board: release, hold, resume, cancel and reprioritize the plant's orders."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

from tests.ui.pages.order_page import ConfirmDialog


class BoardPage:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.heading = page.get_by_role("heading", name="Planner board")
        self.notice = page.get_by_role("status")
        self.alert = page.get_by_role("alert")
        self.order_ref = page.get_by_label("Order ref")
        self.status = page.get_by_label("Status")
        self.apply = page.get_by_role("button", name="Apply filters")

    def open(self) -> BoardPage:
        self.page.goto("/screens/board")
        expect(self.heading).to_be_visible()
        return self

    def row(self, order_ref: str) -> Locator:
        return self.page.get_by_role("row").filter(
            has=self.page.get_by_role("link", name=order_ref, exact=True)
        )

    def find(self, order_ref: str, status: str = "All statuses") -> BoardPage:
        self.order_ref.fill(order_ref)
        self.status.select_option(label=status)
        self.apply.click()
        expect(self.heading).to_be_visible()
        return self

    def act(self, action: str, order_ref: str) -> None:
        """Release, Hold, Resume or Cancel, confirmed."""
        self.page.get_by_role("button", name=f"{action} {order_ref}", exact=True).click()
        dialog = ConfirmDialog(self.page)
        expect(dialog.dialog).to_contain_text(f"{action} order {order_ref}?")
        dialog.confirm()
        expect(self.heading).to_be_visible()

    def set_priority(self, order_ref: str, priority: int) -> None:
        self.page.get_by_label(f"Priority of {order_ref}", exact=True).select_option(str(priority))
        self.page.get_by_role("button", name=f"Save priority of {order_ref}").click()
        expect(self.notice).to_have_text(f"Priority of order {order_ref} set to {priority}.")
