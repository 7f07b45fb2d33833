"""Client of the MES API: orders, their transitions, work centers and operators."""

from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Literal

import httpx

from preflight.clients.session import ServiceSession

Action = Literal["release", "start", "complete", "hold", "resume", "cancel"]
ACTIONS: tuple[Action, ...] = ("release", "start", "complete", "hold", "resume", "cancel")


class MesClient(ServiceSession):
    def create_order(
        self, order: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> httpx.Response:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self.write("POST", "/orders", json=order, headers=headers)

    def get_order(
        self, order_id: str, *, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        return self.read(f"/orders/{order_id}", headers=headers)

    def list_orders(
        self,
        *,
        status: list[str] | str | None = None,
        plant: str | None = None,
        work_center: str | None = None,
        due_before: date | str | None = None,
        updated_since: datetime | str | None = None,
        sort: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> httpx.Response:
        params = {
            "status": status,
            "plant": plant,
            "work_center": work_center,
            "due_before": str(due_before) if due_before else None,
            "updated_since": (
                updated_since.isoformat() if isinstance(updated_since, datetime) else updated_since
            ),
            "sort": sort,
            "limit": limit,
            "cursor": cursor,
        }
        return self.read("/orders", params={k: v for k, v in params.items() if v is not None})

    def iter_orders(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every order matching the filters, following next_cursor page by page."""
        cursor: str | None = None
        while True:
            response = self.list_orders(cursor=cursor, **filters)
            response.raise_for_status()
            page = response.json()
            yield from page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return

    def transition(
        self,
        order_id: str,
        action: Action,
        *,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        headers: dict[str, str] = {}
        if if_match is not None:
            headers["If-Match"] = f'"{if_match}"'
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return self.write("POST", f"/orders/{order_id}/{action}", headers=headers)

    def update_order(
        self, order_id: str, changes: Mapping[str, Any], *, if_match: int | None = None
    ) -> httpx.Response:
        headers = {"If-Match": f'"{if_match}"'} if if_match is not None else None
        return self.write("PATCH", f"/orders/{order_id}", json=changes, headers=headers)

    def operation(
        self,
        order_id: str,
        seq: int,
        step: Literal["start", "complete"],
        *,
        if_match: int | None = None,
    ) -> httpx.Response:
        headers = {"If-Match": f'"{if_match}"'} if if_match is not None else None
        return self.write("POST", f"/orders/{order_id}/operations/{seq}/{step}", headers=headers)

    def create_product(
        self, plant: str, sku: str, name: str, routing: Sequence[Mapping[str, Any]]
    ) -> httpx.Response:
        body = {"plant": plant, "sku": sku, "name": name, "routing": routing}
        return self.write("POST", "/products", json=body)

    def list_products(self, plant: str) -> httpx.Response:
        return self.read("/products", params={"plant": plant})

    def get_product(self, plant: str, sku: str) -> httpx.Response:
        return self.read(f"/products/{plant}/{sku}")

    def create_work_center(self, plant: str, code: str, name: str) -> httpx.Response:
        return self.write(
            "POST", "/work-centers", json={"plant": plant, "code": code, "name": name}
        )

    def list_work_centers(self, plant: str) -> httpx.Response:
        return self.read("/work-centers", params={"plant": plant})

    def create_operator(
        self,
        name: str,
        plant: str,
        *,
        work_center: str | None = None,
        role: str = "operator",
        login: str | None = None,
        password: str | None = None,
    ) -> httpx.Response:
        body: dict[str, object] = {
            "name": name,
            "plant": plant,
            "work_center": work_center,
            "role": role,
        }
        if login is not None:
            body |= {"login": login, "password": password}
        return self.write("POST", "/operators", json=body)

    def get_operator(self, operator_id: str) -> httpx.Response:
        return self.read(f"/operators/{operator_id}")
