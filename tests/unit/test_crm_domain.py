"""Sales orders on the domain model alone: what each answer of the MES does to them, backoff, and
which MES changes they take."""

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from reference_services.crm.domain.model import (
    Accepted,
    Backoff,
    Customer,
    InvalidSalesOrder,
    MesProgress,
    MesStatus,
    Rejected,
    RetryLater,
    SalesOrder,
    SalesOrderStatus,
    format_number,
    new_sales_order,
    parse_number,
)
from reference_services.crm.domain.submission import outcome_of, production_order

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
PROBLEMS = "https://preflight.dev/problems/"


def a_customer() -> Customer:
    return Customer(uuid.uuid4(), "Acme", "buy@acme.example", "P1", [])


def a_sales_order(**overrides: Any) -> SalesOrder:
    fields: dict[str, Any] = {
        "number": 42,
        "customer": a_customer(),
        "sku": "SKU-1",
        "quantity": 10,
        "due_date": date(2026, 12, 24),
        "priority": 3,
        "now": NOW,
    }
    fields.update(overrides)
    return new_sales_order(**fields)


def progress_of(
    order: SalesOrder, status: MesStatus, version: int, **overrides: Any
) -> MesProgress:
    fields: dict[str, Any] = {
        "mes_order_id": order.mes_order_id or uuid.uuid4(),
        "order_ref": order.order_ref,
        "customer_ref": str(order.customer_id),
        "plant": order.plant,
        "status": status,
        "version": version,
        "updated_at": NOW,
    }
    fields.update(overrides)
    return MesProgress(**fields)


def test_a_new_sales_order_is_submitted_at_once_in_its_customers_plant() -> None:
    customer = a_customer()
    order = a_sales_order(customer=customer)
    assert (order.status, order.plant, order.version) == (SalesOrderStatus.SUBMITTED, "P1", 1)
    assert (order.next_attempt_at, order.submit_attempts, order.mes_status) == (NOW, 0, None)
    assert order.order_ref == "SO-000042"


@pytest.mark.parametrize(("field", "value"), [("quantity", 0), ("priority", 0), ("priority", 6)])
def test_a_sales_order_keeps_quantity_and_priority_in_range(field: str, value: int) -> None:
    with pytest.raises(InvalidSalesOrder, match=field):
        a_sales_order(**{field: value})


@pytest.mark.parametrize(("number", "ref"), [(1, "SO-000001"), (1234567, "SO-1234567")])
def test_numbers_are_zero_padded_and_read_back(number: int, ref: str) -> None:
    assert format_number(number) == ref
    assert parse_number(ref) == number


@pytest.mark.parametrize("ref", ["PF-abc-1", "SO-12", "SO-00000x", "so-000001", ""])
def test_other_references_are_not_sales_order_numbers(ref: str) -> None:
    assert parse_number(ref) is None


def test_the_production_order_names_the_sales_order_and_takes_the_products_routing() -> None:
    order = a_sales_order()
    assert production_order(order) == {
        "order_ref": "SO-000042",
        "customer_ref": str(order.customer_id),
        "sku": "SKU-1",
        "quantity": 10,
        "due_date": "2026-12-24",
        "plant": "P1",
        "priority": 3,
    }


MES_ORDER = {"id": str(uuid.uuid4()), "status": "planned", "version": 1}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (201, MES_ORDER, Accepted),
        (200, MES_ORDER, Accepted),
        (201, {"id": "not-a-uuid", "status": "planned", "version": 1}, RetryLater),
        (201, None, RetryLater),
        (422, {"type": PROBLEMS + "unknown-sku", "detail": "no product"}, Rejected),
        (422, {"type": PROBLEMS + "validation-error", "detail": "invalid: body.sku"}, Rejected),
        (409, {"type": PROBLEMS + "duplicate-order-ref", "detail": "taken"}, Rejected),
        (404, {"type": PROBLEMS + "not-found", "detail": "plant P9"}, Rejected),
        (400, None, Rejected),
        (409, {"type": PROBLEMS + "idempotency-in-flight"}, RetryLater),
        (429, {"type": PROBLEMS + "rate-limited"}, RetryLater),
        (401, {"type": PROBLEMS + "unauthorized"}, RetryLater),
        (403, {"type": PROBLEMS + "forbidden"}, RetryLater),
        (408, None, RetryLater),
        (500, {"type": PROBLEMS + "internal-error"}, RetryLater),
        (502, None, RetryLater),
        (503, {"type": PROBLEMS + "upstream-unavailable"}, RetryLater),
        (504, None, RetryLater),
        (302, None, RetryLater),
    ],
)
def test_each_answer_of_the_gateway_accepts_rejects_or_retries(
    status: int, body: object, expected: type
) -> None:
    assert isinstance(outcome_of(status, body), expected)


def test_a_rejection_carries_the_problems_detail_and_type() -> None:
    outcome = outcome_of(
        422, {"type": PROBLEMS + "unknown-sku", "title": "Unknown SKU", "detail": "no SKU-1 in P1"}
    )
    assert outcome == Rejected(PROBLEMS + "unknown-sku", "no SKU-1 in P1")
    assert outcome_of(409, {"type": PROBLEMS + "conflict", "title": "Conflict"}) == Rejected(
        PROBLEMS + "conflict", "Conflict"
    )


def test_retry_after_is_read_in_seconds() -> None:
    assert outcome_of(429, None, "7") == RetryLater("HTTP 429", 7.0)
    assert outcome_of(
        503, {"type": PROBLEMS + "upstream-unavailable", "detail": "mes down"}, "2"
    ) == (RetryLater("HTTP 503 upstream-unavailable: mes down", 2.0))
    assert isinstance(throttled := outcome_of(503, None, "soon"), RetryLater)
    assert throttled.retry_after_s is None


def test_acceptance_settles_the_order_with_the_mes_view() -> None:
    order, mes_id = a_sales_order(), uuid.uuid4()
    later = NOW + timedelta(seconds=1)

    assert order.settle(Accepted(mes_id, MesStatus.PLANNED, 1), Backoff(), later)

    assert (order.status, order.mes_order_id, order.mes_status) == (
        SalesOrderStatus.ACCEPTED,
        mes_id,
        MesStatus.PLANNED,
    )
    assert (order.version, order.updated_at, order.next_attempt_at) == (2, later, None)


def test_rejection_keeps_the_reason_and_type() -> None:
    order = a_sales_order()
    assert order.settle(Rejected(PROBLEMS + "unknown-sku", "no such SKU"), Backoff(), NOW)
    assert (order.status, order.reject_reason, order.reject_type) == (
        SalesOrderStatus.REJECTED,
        "no such SKU",
        PROBLEMS + "unknown-sku",
    )


def test_a_settled_order_ignores_later_answers() -> None:
    order = a_sales_order()
    order.settle(Accepted(uuid.uuid4(), MesStatus.PLANNED, 1), Backoff(), NOW)
    late = (
        Rejected("t", "late"),
        RetryLater("late"),
        Accepted(uuid.uuid4(), MesStatus.RELEASED, 9),
    )
    for outcome in late:
        assert not order.settle(outcome, Backoff(), NOW)
    assert (order.status, order.version) == (SalesOrderStatus.ACCEPTED, 2)


def test_a_retry_is_scheduled_after_the_backoff_without_a_new_version() -> None:
    order = a_sales_order()
    order.submit_attempts = 3
    backoff = Backoff(0.2, 30.0, random.Random(7))

    assert order.settle(RetryLater("HTTP 503"), backoff, NOW)

    assert order.status is SalesOrderStatus.SUBMITTED
    assert order.next_attempt_at is not None
    assert 0.4 <= (order.next_attempt_at - NOW).total_seconds() <= 0.8
    assert (order.version, order.last_submit_error) == (1, "HTTP 503")


def test_a_retry_waits_at_least_what_retry_after_asks_up_to_the_cap() -> None:
    order = a_sales_order()
    order.submit_attempts = 1
    order.settle(RetryLater("HTTP 429", retry_after_s=7), Backoff(0.2, 30.0), NOW)
    assert order.next_attempt_at == NOW + timedelta(seconds=7)
    order.settle(RetryLater("HTTP 429", retry_after_s=3600), Backoff(0.2, 30.0), NOW)
    assert order.next_attempt_at is not None
    assert order.next_attempt_at <= NOW + timedelta(seconds=30)


def test_backoff_doubles_from_the_base_to_the_cap_with_jitter() -> None:
    backoff = Backoff(0.2, 30.0, random.Random(1))
    for attempt in range(1, 40):
        ceiling = min(30.0, 0.2 * 2 ** (attempt - 1))
        delays = [backoff.delay(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(set(delays)) > 1
    assert backoff.delay(10_000) <= 30.0


def test_newer_mes_changes_are_shown_and_older_ones_ignored() -> None:
    order = a_sales_order()
    mes_id = uuid.uuid4()
    order.settle(Accepted(mes_id, MesStatus.PLANNED, 1), Backoff(), NOW)

    assert order.observe(progress_of(order, MesStatus.IN_PROGRESS, 3), NOW)
    assert not order.observe(progress_of(order, MesStatus.RELEASED, 2), NOW)
    assert not order.observe(progress_of(order, MesStatus.IN_PROGRESS, 3), NOW)

    assert (order.mes_status, order.mes_version, order.version) == (MesStatus.IN_PROGRESS, 3, 3)


def test_acceptance_does_not_undo_progress_seen_first() -> None:
    order = a_sales_order()
    mes_id = uuid.uuid4()
    assert order.observe(progress_of(order, MesStatus.RELEASED, 2, mes_order_id=mes_id), NOW)

    order.settle(Accepted(mes_id, MesStatus.PLANNED, 1), Backoff(), NOW)

    assert (order.status, order.mes_status, order.mes_version) == (
        SalesOrderStatus.ACCEPTED,
        MesStatus.RELEASED,
        2,
    )


@pytest.mark.parametrize(
    "other",
    [
        {"plant": "P2"},
        {"customer_ref": "someone-else"},
        {"order_ref": "SO-000043"},
        {"mes_order_id": uuid.UUID(int=1)},
    ],
)
def test_changes_of_another_production_order_are_ignored(other: dict[str, Any]) -> None:
    order = a_sales_order()
    order.settle(Accepted(uuid.uuid4(), MesStatus.PLANNED, 1), Backoff(), NOW)
    assert not order.observe(progress_of(order, MesStatus.RELEASED, 2, **other), NOW)
    assert order.mes_status is MesStatus.PLANNED


@pytest.mark.parametrize(
    ("status", "mes_status", "awaits"),
    [
        (SalesOrderStatus.SUBMITTED, None, True),
        (SalesOrderStatus.ACCEPTED, MesStatus.PLANNED, True),
        (SalesOrderStatus.ACCEPTED, MesStatus.ON_HOLD, True),
        (SalesOrderStatus.ACCEPTED, MesStatus.COMPLETED, False),
        (SalesOrderStatus.ACCEPTED, MesStatus.CANCELLED, False),
        (SalesOrderStatus.REJECTED, None, False),
    ],
)
def test_an_order_awaits_progress_until_the_mes_is_done_with_it(
    status: SalesOrderStatus, mes_status: MesStatus | None, awaits: bool
) -> None:
    order = a_sales_order()
    order.status, order.mes_status = status, mes_status
    assert order.awaits_progress is awaits
