"""The notification rules, pure: how an order is tracked from its events, which alerts it gets
and how subscriptions match event types."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from reference_services.notification.domain.rules import (
    ORDER_HELD_TOO_LONG,
    ORDER_LATE,
    WatchedOrder,
    hold_alert,
    late_alert,
    subscribed,
    track,
    valid_pattern,
)
from reference_services.platform.events import Envelope

ORDER = uuid.uuid4()
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def event(event_type: str, status: str, sequence: int, at: datetime = T0) -> Envelope:
    return Envelope(
        id=uuid.uuid4(),
        type=event_type,
        source="mes",
        time=at,
        subject=str(ORDER),
        sequence=sequence,
        data={
            "order_id": str(ORDER),
            "order_ref": "PO-1",
            "plant": "P1",
            "due_date": "2026-11-22",
            "status": status,
        },
    )


def test_an_order_is_tracked_from_its_first_event() -> None:
    order = track(None, event("order.created", "planned", 1))

    assert order == WatchedOrder(ORDER, "PO-1", "P1", date(2026, 11, 22), "planned", 1, None)


def test_a_hold_is_remembered_until_the_order_leaves_it() -> None:
    held_at = T0 + timedelta(hours=1)
    order = track(None, event("order.created", "planned", 1))
    order = track(order, event("order.held", "on_hold", 2, held_at))
    assert order.held_since == held_at
    assert track(order, event("order.updated", "on_hold", 3)).held_since == held_at
    assert track(order, event("order.resumed", "planned", 4)).held_since is None


def test_an_event_older_than_the_tracked_state_changes_nothing() -> None:
    order = track(None, event("order.cancelled", "cancelled", 5))

    assert track(order, event("order.released", "released", 3)) is order


def test_a_late_alert_names_the_order_and_is_raised_once_per_order() -> None:
    order = track(None, event("order.released", "released", 2))
    now = T0 + timedelta(days=3)

    alert = late_alert(order, date(2026, 11, 23), now)

    assert alert.type == ORDER_LATE
    assert alert.title == "Order PO-1 is late"
    assert alert.detail == "Due 2026-11-22 (1 day ago), still released."
    assert alert.dedupe_key == f"late:{ORDER}"
    assert late_alert(order, date(2026, 11, 25), now).dedupe_key == alert.dedupe_key
    assert late_alert(order, date(2026, 11, 25), now).detail.startswith("Due 2026-11-22 (3 days")


def test_a_hold_alert_is_raised_once_per_hold() -> None:
    first = track(None, event("order.held", "on_hold", 2, T0))
    second = track(first, event("order.resumed", "planned", 3))
    second = track(second, event("order.held", "on_hold", 4, T0 + timedelta(hours=2)))

    one = hold_alert(first, T0 + timedelta(minutes=45))
    two = hold_alert(second, T0 + timedelta(hours=3))

    assert one.type == two.type == ORDER_HELD_TOO_LONG
    assert one.title == "Order PO-1 has been on hold for 45 min"
    assert one.dedupe_key != two.dedupe_key


def test_an_alert_travels_as_an_envelope_about_its_order() -> None:
    order = track(None, event("order.released", "released", 2))
    alert = late_alert(order, date(2026, 11, 23), T0)

    envelope = alert.envelope()

    assert envelope["type"] == ORDER_LATE
    assert envelope["subject"] == str(ORDER)
    assert envelope["id"] == str(alert.id)
    assert envelope["data"] == {
        "order_id": str(ORDER),
        "order_ref": "PO-1",
        "plant": "P1",
        "title": alert.title,
        "detail": alert.detail,
    }


@pytest.mark.parametrize(
    ("patterns", "event_type", "expected"),
    [
        (["order.completed"], "order.completed", True),
        (["order.completed"], "order.completed.v2", False),
        (["order.*"], "order.held", True),
        (["order.*"], "operation.started", False),
        (["alert.*", "order.held"], "alert.order_late", True),
        (["*"], "operation.completed", True),
        ([], "order.held", False),
    ],
)
def test_subscriptions_match_event_types_and_patterns(
    patterns: list[str], event_type: str, expected: bool
) -> None:
    assert subscribed(patterns, event_type) is expected


def test_a_pattern_must_match_a_known_event_type() -> None:
    known = frozenset({"order.held", "alert.order_late"})

    assert valid_pattern("order.*", known)
    assert valid_pattern("*", known)
    assert not valid_pattern("order.shipped", known)
    assert not valid_pattern("shipment.*", known)
