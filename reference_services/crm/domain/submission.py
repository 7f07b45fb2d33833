"""What the CRM sends the MES for a sales order, and what each kind of answer means for it.

A definite answer about the order settles it: 201 accepts it, a 4xx problem rejects it with the
problem's detail. Anything that says "not now" (in flight elsewhere, throttled, unavailable, no
answer at all, the CRM's own credentials refused) leaves it submitted for another attempt: the
Idempotency-Key makes every attempt the same request, so retrying can never create a second
production order.
"""

import uuid
from collections.abc import Mapping
from typing import Any

from reference_services.crm.domain.model import (
    Accepted,
    MesStatus,
    Rejected,
    RetryLater,
    SalesOrder,
    SubmissionOutcome,
)

PROBLEM_BASE = "https://preflight.dev/problems/"
RETRY_STATUSES = frozenset({401, 403, 408, 425, 429})
RETRY_PROBLEMS = frozenset({"idempotency-in-flight"})


def production_order(order: SalesOrder) -> dict[str, Any]:
    """The body of POST /api/v1/orders; no operations: the MES takes the product's routing."""
    return {
        "order_ref": order.order_ref,
        "customer_ref": str(order.customer_id),
        "sku": order.sku,
        "quantity": order.quantity,
        "due_date": order.due_date.isoformat(),
        "plant": order.plant,
        "priority": order.priority,
    }


def problem_type(body: object) -> str | None:
    kind = body.get("type") if isinstance(body, Mapping) else None
    return kind if isinstance(kind, str) and kind else None


def problem_slug(body: object) -> str | None:
    kind = problem_type(body)
    return kind.removeprefix(PROBLEM_BASE) if kind else None


def _detail(body: object) -> str | None:
    if isinstance(body, Mapping):
        for key in ("detail", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
    return None


def retry_after_seconds(header: str | None) -> float | None:
    if header is None:
        return None
    try:
        seconds = float(header.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def outcome_of(status: int, body: object, retry_after: str | None = None) -> SubmissionOutcome:
    """What an answer of the gateway to POST /api/v1/orders means for the sales order."""
    if status in (200, 201):
        return _accepted(body)
    slug, detail = problem_slug(body), _detail(body)
    if status >= 500 or status in RETRY_STATUSES or (status == 409 and slug in RETRY_PROBLEMS):
        reason = " ".join(part for part in (f"HTTP {status}", slug) if part)
        return RetryLater(
            f"{reason}: {detail}" if detail else reason, retry_after_seconds(retry_after)
        )
    if 400 <= status < 500:
        kind = problem_type(body) or f"{PROBLEM_BASE}http-{status}"
        return Rejected(kind, detail or f"HTTP {status}")
    return RetryLater(f"unexpected HTTP {status}")


def _accepted(body: object) -> SubmissionOutcome:
    if not isinstance(body, Mapping):
        return RetryLater("the MES accepted the order but its answer was not a JSON object")
    try:
        return Accepted(
            mes_order_id=uuid.UUID(str(body["id"])),
            mes_status=MesStatus(body["status"]),
            mes_version=int(body["version"]),
        )
    except (KeyError, ValueError, TypeError) as exc:
        return RetryLater(f"the MES accepted the order but its answer was malformed: {exc!r}")
