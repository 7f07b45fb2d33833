"""Client of the reporting API: order figures built from the MES's events."""

from datetime import date, datetime
from typing import Any

import httpx

from preflight.clients.session import ServiceSession


def _params(**values: Any) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, date | datetime) else value
        for key, value in values.items()
        if value is not None
    }


class ReportingClient(ServiceSession):
    def orders_by_status(self, *, plant: str | None = None, format: str = "json") -> httpx.Response:
        return self.read("/reports/orders-by-status", params=_params(plant=plant, format=format))

    def throughput(
        self,
        *,
        plant: str | None = None,
        granularity: str = "day",
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        format: str = "json",
    ) -> httpx.Response:
        params = _params(
            plant=plant, granularity=granularity, format=format, **{"from": since, "to": until}
        )
        return self.read("/reports/throughput", params=params)

    def lead_time(
        self, *, plant: str | None = None, sku: list[str] | None = None, format: str = "json"
    ) -> httpx.Response:
        return self.read("/reports/lead-time", params=_params(plant=plant, sku=sku, format=format))

    def late_orders(
        self, *, plant: str | None = None, as_of: date | None = None, format: str = "json"
    ) -> httpx.Response:
        return self.read(
            "/reports/late-orders", params=_params(plant=plant, as_of=as_of, format=format)
        )

    def order(self, order_id: str) -> httpx.Response:
        return self.read(f"/reports/orders/{order_id}")
