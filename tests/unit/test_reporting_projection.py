"""The orders read model advances one event at a time and never goes back in time."""

import uuid
from datetime import UTC, datetime, timedelta

from reference_services.platform.events import Envelope
from reference_services.reporting.service_layer.projection import OrderRow, project

ORDER = uuid.uuid4()
CREATED = datetime(2030, 1, 1, 8, 0, tzinfo=UTC)


def event(kind: str, sequence: int, status: str, minutes: int) -> Envelope:
    return Envelope(
        id=uuid.uuid4(),
        type=kind,
        source="mes",
        time=CREATED + timedelta(minutes=minutes),
        subject=str(ORDER),
        sequence=sequence,
        data={
            "order_id": str(ORDER),
            "order_ref": "PO-1",
            "plant": "P1",
            "sku": "SKU-1",
            "quantity": 4,
            "status": status,
            "due_date": "2030-01-10",
            "created_at": CREATED.isoformat(),
        },
    )


def run(*events: Envelope) -> OrderRow:
    row = None
    for each in events:
        row = project(row, each)
    assert row is not None
    return row


def test_an_order_worked_to_completion() -> None:
    row = run(
        event("order.created", 1, "planned", 0),
        event("order.released", 5, "released", 10),
        event("order.held", 6, "on_hold", 20),
        event("order.resumed", 7, "released", 30),
        event("order.started", 9, "in_progress", 40),
        event("order.completed", 12, "completed", 100),
    )

    assert row.status == "completed"
    assert row.created_at == CREATED
    assert row.released_at == CREATED + timedelta(minutes=10)
    assert row.started_at == CREATED + timedelta(minutes=40)
    assert row.completed_at == CREATED + timedelta(minutes=100)
    assert row.held_since is None
    assert (row.last_sequence, row.events_applied) == (12, 6)


def test_a_late_event_fills_in_its_step_but_does_not_turn_back_the_status() -> None:
    row = run(
        event("order.created", 1, "planned", 0),
        event("order.cancelled", 8, "cancelled", 30),
        event("order.released", 5, "released", 10),  # published again after a Redis restart
    )

    assert row.status == "cancelled"
    assert row.released_at == CREATED + timedelta(minutes=10)
    assert (row.last_sequence, row.events_applied) == (8, 3)


def test_an_order_on_hold_remembers_since_when() -> None:
    row = run(event("order.created", 1, "planned", 0), event("order.held", 2, "on_hold", 15))

    assert row.held_since == CREATED + timedelta(minutes=15)
