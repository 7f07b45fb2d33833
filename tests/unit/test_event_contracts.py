"""The event contracts in contracts/events/ are valid schemas; the MES emits only valid events."""

import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from reference_services.mes.domain.model import Action, ProductionOrder, new_order
from reference_services.mes.service_layer.unit_of_work import order_events
from reference_services.platform.events import (
    CONTRACTS,
    Envelope,
    InvalidEvent,
    decode,
    known_types,
    validation_errors,
)

MES_EVENT_TYPES = {
    "order.created",
    "order.released",
    "order.started",
    "order.completed",
    "order.held",
    "order.resumed",
    "order.cancelled",
    "order.updated",
    "operation.started",
    "operation.completed",
}


def an_order(operations: int = 2) -> ProductionOrder:
    return new_order(
        order_ref="PO-1",
        customer_ref="CUST-1",
        sku="SKU-1",
        quantity=5,
        due_date=date(2030, 1, 31),
        plant="P1",
        priority=3,
        operations=[(f"WC-{n}", f"step {n}", 10) for n in range(1, operations + 1)],
    )


def published(order: ProductionOrder, first_sequence: int = 1) -> list[Envelope]:
    return [
        Envelope(
            id=event.event_id,
            type=event.event_type,
            source="mes",
            time=event.occurred_at,
            subject=event.aggregate_id,
            sequence=first_sequence + n,
            data=event.payload,
            traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        for n, event in enumerate(order_events(order))
    ]


@pytest.mark.parametrize("path", sorted(CONTRACTS.glob("*.schema.json")), ids=lambda p: p.name)
def test_every_contract_is_a_valid_json_schema(path: Path) -> None:
    Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_there_is_a_contract_for_every_event_type_the_mes_emits() -> None:
    assert set(known_types()) == MES_EVENT_TYPES


def test_every_event_of_an_order_lifecycle_is_valid() -> None:
    worked = an_order()
    worked.apply(Action.RELEASE)
    worked.reprioritize(1, None)
    worked.start_operation(1)
    worked.complete_operation(1)
    worked.apply(Action.HOLD)
    worked.apply(Action.RESUME)
    worked.start_operation(2)
    worked.complete_operation(2)
    cancelled = an_order()
    cancelled.apply(Action.HOLD)
    cancelled.apply(Action.CANCEL)
    started = an_order(1)
    started.apply(Action.RELEASE)
    started.apply(Action.START)
    started.apply(Action.COMPLETE)

    envelopes = published(worked) + published(cancelled) + published(started)

    assert {e.type for e in envelopes} == MES_EVENT_TYPES
    for envelope in envelopes:
        assert validation_errors(envelope.document()) == [], envelope.type


def test_an_event_with_a_wrong_status_breaks_its_contract() -> None:
    document = published(an_order())[0].document()
    document["data"]["status"] = "completed"

    assert any("status" in error for error in validation_errors(document))


def test_an_unknown_event_type_has_no_contract() -> None:
    document = published(an_order())[0].document() | {"type": "order.teleported"}

    assert validation_errors(document) == [
        f"no schema for event type 'order.teleported' in {CONTRACTS}"
    ]


def test_a_stream_entry_round_trips_through_its_fields() -> None:
    envelope = published(an_order(), first_sequence=41)[0]

    assert decode(envelope.fields()) == envelope


@pytest.mark.parametrize(
    "fields",
    [{}, {b"envelope": b"not json"}, {b"envelope": b'{"specversion": "1.0"}'}],
    ids=["no envelope", "not json", "missing attributes"],
)
def test_a_malformed_stream_entry_is_refused(fields: dict[bytes, bytes]) -> None:
    with pytest.raises(InvalidEvent):
        decode(fields)


def test_event_times_are_when_the_change_happened() -> None:
    order = an_order()
    moment = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    order.apply(Action.RELEASE, now=moment)

    released = published(order)[1]

    assert released.type == "order.released"
    assert released.time == moment
    assert uuid.UUID(released.data["order_id"]) == order.id
