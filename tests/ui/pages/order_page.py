"""An order's detail: its operations, their actions, scrap; and the confirmation step."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect


class ConfirmDialog:
    def __init__(self, page: Page) -> None:
        self.dialog = page.get_by_role("alertdialog")
        self.confirm_button = self.dialog.get_by_role("button", name="Confirm")
        self.cancel_link = self.dialog.get_by_role("link", name="Cancel")

    def confirm(self) -> None:
        self.confirm_button.click()


class OrderPage:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.status = page.get_by_test_id("order-status")
        self.notice = page.get_by_role("status")
        self.alert = page.get_by_role("alert")
        self.operations = page.get_by_role("table", name="Operations")
        self.scrap_table = page.get_by_role("table", name="Scrap reported")
        self.scrap_form = page.get_by_role("form", name="Report scrap")
        self.back_to_queue = page.get_by_role("link", name="Back to the queue")

    def heading(self, order_ref: str) -> Locator:
        return self.page.get_by_role("heading", name=f"Order {order_ref}", exact=True)

    def start_button(self, seq: int) -> Locator:
        return self.page.get_by_role("button", name=f"Start operation {seq}", exact=True)

    def complete_button(self, seq: int) -> Locator:
        return self.page.get_by_role("button", name=f"Complete operation {seq}", exact=True)

    def operation_row(self, seq: int) -> Locator:
        return self.operations.get_by_role("row").filter(
            has=self.page.get_by_role("rowheader", name=str(seq), exact=True)
        )

    def ask_to_start(self, seq: int) -> ConfirmDialog:
        self.start_button(seq).click()
        dialog = ConfirmDialog(self.page)
        expect(dialog.dialog).to_contain_text(f"Start operation {seq}")
        return dialog

    def start(self, seq: int) -> None:
        self.ask_to_start(seq).confirm()
        expect(self.notice).to_have_text(f"Operation {seq} started.")

    def complete(self, seq: int) -> None:
        self.complete_button(seq).click()
        dialog = ConfirmDialog(self.page)
        expect(dialog.dialog).to_contain_text(f"Complete operation {seq}")
        dialog.confirm()
        expect(self.notice).to_have_text(f"Operation {seq} completed.")

    def fill_scrap(self, operation: str | None, quantity: str, reason: str) -> None:
        form = self.scrap_form
        if operation is not None:
            form.get_by_label("Operation").select_option(label=operation)
        form.get_by_label("Scrapped quantity").fill(quantity)
        form.get_by_label("Reason").fill(reason)
        form.get_by_role("button", name="Report scrap").click()

    def field_error(self, label: str) -> Locator:
        field = self.scrap_form.get_by_label(label)
        return self.page.locator(f"#{field.get_attribute('aria-describedby')}")
