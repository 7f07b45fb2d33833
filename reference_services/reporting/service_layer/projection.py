"""The orders read model: one row per order, advanced by each MES event applied to it.

Pure: `project` takes the order's row (or None) and one event and returns the new row. Events
normally arrive in commit order; one that arrives late (published again after a Redis restart)
still fills in the step it records, but never overwrites newer state (`sequence` decides).
"""

import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime

from reference_services.platform.events import Envelope

STEP_COLUMNS = {
    "order.released": "released_at",
    "order.started": "started_at",
    "order.completed": "completed_at",
    "order.cancelled": "cancelled_at",
}


@dataclass(frozen=True)
class OrderRow:
    order_id: uuid.UUID
    order_ref: str
    plant: str
    sku: str
    quantity: int
    status: str
    due_date: date
    created_at: datetime
    last_sequence: int
    events_applied: int
    released_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    held_since: datetime | None = None


def project(current: OrderRow | None, event: Envelope) -> OrderRow:
    data = event.data
    newer = current is None or event.sequence > current.last_sequence
    row = current or OrderRow(
        order_id=uuid.UUID(str(data["order_id"])),
        order_ref=str(data["order_ref"]),
        plant=str(data["plant"]),
        sku=str(data["sku"]),
        quantity=int(data["quantity"]),
        status=str(data["status"]),
        due_date=date.fromisoformat(str(data["due_date"])),
        created_at=datetime.fromisoformat(str(data["created_at"])),
        last_sequence=event.sequence,
        events_applied=0,
    )
    if newer:
        row = replace(
            row,
            status=str(data["status"]),
            due_date=date.fromisoformat(str(data["due_date"])),
            quantity=int(data["quantity"]),
            last_sequence=event.sequence,
        )
        if event.type == "order.held":
            row = replace(row, held_since=event.time)
        elif event.type in ("order.resumed", "order.cancelled", "order.completed"):
            row = replace(row, held_since=None)
    step = STEP_COLUMNS.get(event.type)
    if step is not None and getattr(row, step) is None:
        row = _with_step(row, step, event.time)
    return replace(row, events_applied=row.events_applied + 1)


def _with_step(row: OrderRow, column: str, at: datetime) -> OrderRow:
    if column == "released_at":
        return replace(row, released_at=at)
    if column == "started_at":
        return replace(row, started_at=at)
    if column == "completed_at":
        return replace(row, completed_at=at)
    return replace(row, cancelled_at=at)
