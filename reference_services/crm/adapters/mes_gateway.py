"""The MES as the CRM reaches it: through the gateway's public API, with the CRM's service token.

POST /api/v1/orders submits a sales order (Idempotency-Key = the sales order id);
GET /api/v1/orders?updated_since=&sort=updated_at is the feed of production order changes.
"""

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from reference_services.crm.domain.model import MesProgress, MesStatus, RetryLater, SalesOrder
from reference_services.crm.domain.model import SubmissionOutcome as Outcome
from reference_services.crm.domain.submission import outcome_of, production_order

log = logging.getLogger(__name__)

ORDERS_PATH = "/api/v1/orders"


class FeedUnavailable(Exception):
    """The order feed could not be read this time."""

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class FeedPage:
    items: list[MesProgress]
    next_cursor: str | None


class MesGateway:
    def __init__(self, http: httpx.AsyncClient, token: str | None) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def submit(self, order: SalesOrder) -> Outcome:
        try:
            response = await self.http.post(
                ORDERS_PATH,
                json=production_order(order),
                headers={**self.headers, "Idempotency-Key": str(order.id)},
            )
        except httpx.TimeoutException as exc:
            return RetryLater(f"no answer from the gateway in time ({exc.__class__.__name__})")
        except httpx.HTTPError as exc:
            return RetryLater(f"gateway unreachable ({exc.__class__.__name__}: {exc})"[:500])
        return outcome_of(
            response.status_code, _json(response), response.headers.get("retry-after")
        )

    async def changed_orders(self, since: datetime, cursor: str | None, limit: int) -> FeedPage:
        params: dict[str, str | int] = {
            "updated_since": since.isoformat(),
            "sort": "updated_at",
            "limit": limit,
        }
        if cursor:
            params["cursor"] = cursor
        try:
            response = await self.http.get(ORDERS_PATH, params=params, headers=self.headers)
        except httpx.HTTPError as exc:
            raise FeedUnavailable(f"{exc.__class__.__name__}: {exc}") from None
        body = _json(response)
        if response.status_code != 200 or not isinstance(body, Mapping):
            retry_after = response.headers.get("retry-after")
            raise FeedUnavailable(
                f"GET {ORDERS_PATH} answered {response.status_code}: {response.text[:300]}",
                float(retry_after) if retry_after and retry_after.isdigit() else None,
            )
        items = [progress for raw in body.get("items", []) if (progress := _progress(raw))]
        next_cursor = body.get("next_cursor")
        return FeedPage(items, next_cursor if isinstance(next_cursor, str) else None)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _progress(raw: object) -> MesProgress | None:
    if not isinstance(raw, Mapping):
        return None
    try:
        updated_at = datetime.fromisoformat(str(raw["updated_at"]))
        return MesProgress(
            mes_order_id=uuid.UUID(str(raw["id"])),
            order_ref=str(raw["order_ref"]),
            customer_ref=str(raw["customer_ref"]),
            plant=str(raw["plant"]),
            status=MesStatus(raw["status"]),
            version=int(raw["version"]),
            updated_at=updated_at,
        )
    except (KeyError, ValueError, TypeError):
        log.warning("skipping a malformed order in the MES feed")
        return None
