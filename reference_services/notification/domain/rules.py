"""The rules: what the service remembers of each order, and the alerts it raises.

Pure. `track` advances an order's state by one MES event (a late-arriving event never overwrites
newer state: the event's sequence decides). `late_alert` and `hold_alert` describe the alerts;
which orders are due one is found by the scanner from this state. Alerts are events too: they go
to the in-app feed and to webhooks subscribed to their type.
"""

import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime
from fnmatch import fnmatchcase

from reference_services.platform.events import Envelope

ORDER_LATE = "alert.order_late"
ORDER_HELD_TOO_LONG = "alert.order_held_too_long"
ALERT_TYPES = (ORDER_LATE, ORDER_HELD_TOO_LONG)
CLOSED = frozenset({"completed", "cancelled"})
CRM_CALLBACK_EVENTS = ("order.completed",)


@dataclass(frozen=True)
class WatchedOrder:
    order_id: uuid.UUID
    order_ref: str
    plant: str
    due_date: date
    status: str
    last_sequence: int
    held_since: datetime | None = None


@dataclass(frozen=True)
class Alert:
    id: uuid.UUID
    type: str
    plant: str
    order_id: uuid.UUID
    order_ref: str
    title: str
    detail: str
    raised_at: datetime
    dedupe_key: str
    """One alert per order and cause: per order for lateness, per hold for holds."""

    def envelope(self) -> dict[str, object]:
        """The alert as an event, in the shape of the MES's envelopes (the webhook body)."""
        return {
            "id": str(self.id),
            "type": self.type,
            "source": "notification",
            "time": self.raised_at.isoformat(),
            "subject": str(self.order_id),
            "data": {
                "order_id": str(self.order_id),
                "order_ref": self.order_ref,
                "plant": self.plant,
                "title": self.title,
                "detail": self.detail,
            },
        }


def track(current: WatchedOrder | None, event: Envelope) -> WatchedOrder:
    data = event.data
    if current is not None and event.sequence <= current.last_sequence:
        return current
    order = WatchedOrder(
        order_id=uuid.UUID(str(data["order_id"])),
        order_ref=str(data["order_ref"]),
        plant=str(data["plant"]),
        due_date=date.fromisoformat(str(data["due_date"])),
        status=str(data["status"]),
        last_sequence=event.sequence,
        held_since=None if current is None else current.held_since,
    )
    if event.type == "order.held":
        return replace(order, held_since=event.time)
    if order.status != "on_hold":
        return replace(order, held_since=None)
    return order


def late_alert(order: WatchedOrder, today: date, now: datetime) -> Alert:
    days = (today - order.due_date).days
    return Alert(
        id=uuid.uuid4(),
        type=ORDER_LATE,
        plant=order.plant,
        order_id=order.order_id,
        order_ref=order.order_ref,
        title=f"Order {order.order_ref} is late",
        detail=f"Due {order.due_date.isoformat()} ({days} day{'s' * (days != 1)} ago), "
        f"still {order.status.replace('_', ' ')}.",
        raised_at=now,
        dedupe_key=f"late:{order.order_id}",
    )


def hold_alert(order: WatchedOrder, now: datetime) -> Alert:
    assert order.held_since is not None
    minutes = int((now - order.held_since).total_seconds() // 60)
    return Alert(
        id=uuid.uuid4(),
        type=ORDER_HELD_TOO_LONG,
        plant=order.plant,
        order_id=order.order_id,
        order_ref=order.order_ref,
        title=f"Order {order.order_ref} has been on hold for {minutes} min",
        detail=f"On hold since {order.held_since.isoformat()}.",
        raised_at=now,
        dedupe_key=f"hold:{order.order_id}:{order.held_since.isoformat()}",
    )


def subscribed(patterns: list[str], event_type: str) -> bool:
    """Whether a subscription to these patterns ("order.completed", "order.*", "*") gets it."""
    return any(fnmatchcase(event_type, pattern) for pattern in patterns)


def valid_pattern(pattern: str, known_types: frozenset[str]) -> bool:
    """A pattern must match at least one event type the service can send."""
    return any(fnmatchcase(event_type, pattern) for event_type in known_types)
