"""The order queue of the signed-in user's plant and work center."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

from tests.ui.pages.order_page import OrderPage


class QueuePage:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.heading = page.get_by_role("heading", name="Order queue")
        self.filters = page.get_by_role("search", name="Filter orders")
        self.order_ref = page.get_by_label("Order ref")
        self.status = page.get_by_label("Status")
        self.work_center = page.get_by_label("Work center")
        self.sort = page.get_by_label("Sort by")
        self.apply = page.get_by_role("button", name="Apply filters")
        self.table = page.get_by_role("table")
        self.empty = page.get_by_role("status").filter(has_text="No orders match")
        self.next_page = page.get_by_role("link", name="Next page")
        self.first_page = page.get_by_role("link", name="First page")
        self.board_link = page.get_by_role("navigation", name="Main").get_by_role(
            "link", name="Planner board"
        )

    def open(self) -> QueuePage:
        self.page.goto("/screens/queue")
        expect(self.heading).to_be_visible()
        return self

    @property
    def order_rows(self) -> Locator:
        """Rows of orders (the header row excluded)."""
        return self.table.get_by_role("row").filter(has=self.page.get_by_role("link"))

    def row(self, order_ref: str) -> Locator:
        return self.order_rows.filter(has=self.page.get_by_role("link", name=order_ref, exact=True))

    def search(self, order_ref: str, status: str | None = None) -> QueuePage:
        self.order_ref.fill(order_ref)
        if status is not None:
            self.status.select_option(label=status)
        self.apply.click()
        expect(self.heading).to_be_visible()
        return self

    def show(self, *, status: str | None = None, sort: str | None = None) -> QueuePage:
        if status is not None:
            self.status.select_option(label=status)
        if sort is not None:
            self.sort.select_option(label=sort)
        self.apply.click()
        expect(self.heading).to_be_visible()
        return self

    def open_order(self, order_ref: str) -> OrderPage:
        self.row(order_ref).get_by_role("link", name=order_ref, exact=True).click()
        order = OrderPage(self.page)
        expect(order.heading(order_ref)).to_be_visible()
        return order
