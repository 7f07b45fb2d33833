"""Client of the CRM API: customers and sales orders."""

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx

from preflight.clients.session import ServiceSession

PLANT_SCOPE = "X-Plant-Scope"


def _headers(
    idempotency_key: str | None = None, plant_scope: str | None = None
) -> dict[str, str] | None:
    headers = {}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    if plant_scope is not None:
        headers[PLANT_SCOPE] = plant_scope
    return headers or None


def _params(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


class CrmClient(ServiceSession):
    """`plant_scope` sends X-Plant-Scope as the gateway would (comma list or "*")."""

    def create_customer(
        self,
        customer: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        plant_scope: str | None = None,
    ) -> httpx.Response:
        return self.write(
            "POST", "/customers", json=customer, headers=_headers(idempotency_key, plant_scope)
        )

    def get_customer(self, customer_id: str, *, plant_scope: str | None = None) -> httpx.Response:
        return self.read(f"/customers/{customer_id}", headers=_headers(plant_scope=plant_scope))

    def list_customers(
        self,
        *,
        plant: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        plant_scope: str | None = None,
    ) -> httpx.Response:
        return self.read(
            "/customers",
            params=_params(plant=plant, limit=limit, cursor=cursor),
            headers=_headers(plant_scope=plant_scope),
        )

    def iter_customers(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every customer matching the filters (from `cursor` on, if given), page by page."""
        return self._pages(self.list_customers, filters)

    def create_sales_order(
        self,
        order: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        plant_scope: str | None = None,
    ) -> httpx.Response:
        return self.write(
            "POST", "/sales-orders", json=order, headers=_headers(idempotency_key, plant_scope)
        )

    def get_sales_order(
        self, sales_order_id: str, *, plant_scope: str | None = None
    ) -> httpx.Response:
        return self.read(
            f"/sales-orders/{sales_order_id}", headers=_headers(plant_scope=plant_scope)
        )

    def list_sales_orders(
        self,
        *,
        customer_id: str | None = None,
        status: list[str] | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        plant_scope: str | None = None,
    ) -> httpx.Response:
        return self.read(
            "/sales-orders",
            params=_params(customer_id=customer_id, status=status, limit=limit, cursor=cursor),
            headers=_headers(plant_scope=plant_scope),
        )

    def iter_sales_orders(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every sales order matching the filters (from `cursor` on, if given), page by page."""
        return self._pages(self.list_sales_orders, filters)

    def _pages(
        self, list_page: Callable[..., httpx.Response], filters: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        cursor: str | None = filters.pop("cursor", None)
        while True:
            response = list_page(cursor=cursor, **filters)
            response.raise_for_status()
            page = response.json()
            yield from page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return
