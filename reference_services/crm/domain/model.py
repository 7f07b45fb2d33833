"""Customers, sales orders and what a sales order learns from the MES. Pure Python: no web,
database or cache imports."""

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from reference_services.platform.backoff import Backoff

PRIORITY_MIN = 1
PRIORITY_MAX = 5
NUMBER_PREFIX = "SO-"
_NUMBER = re.compile(r"^SO-(\d{6,18})$")


class SalesOrderStatus(StrEnum):
    """Where the sales order stands with the MES: sent until it answers, then its verdict."""

    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class MesStatus(StrEnum):
    """The production order's status as the MES reports it."""

    PLANNED = "planned"
    RELEASED = "released"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    ON_HOLD = "on_hold"


FINAL_MES_STATUSES = frozenset({MesStatus.COMPLETED, MesStatus.CANCELLED})


class DomainError(Exception):
    pass


class InvalidSalesOrder(DomainError):
    pass


def format_number(number: int) -> str:
    return f"{NUMBER_PREFIX}{number:06d}"


def parse_number(order_ref: str) -> int | None:
    """The sequence number of a sales order reference like SO-000042, None for other refs."""
    match = _NUMBER.match(order_ref)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class Contact:
    name: str
    email: str
    phone: str | None = None


@dataclass
class Customer:
    id: uuid.UUID
    name: str
    email: str
    plant: str
    contacts: list[Contact]
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class Accepted:
    mes_order_id: uuid.UUID
    mes_status: MesStatus
    mes_version: int


@dataclass(frozen=True)
class Rejected:
    type: str
    reason: str


@dataclass(frozen=True)
class RetryLater:
    reason: str
    retry_after_s: float | None = None


SubmissionOutcome = Accepted | Rejected | RetryLater


@dataclass(frozen=True)
class MesProgress:
    """One production order as the MES's order feed shows it."""

    mes_order_id: uuid.UUID
    order_ref: str
    customer_ref: str
    plant: str
    status: MesStatus
    version: int
    updated_at: datetime


@dataclass
class SalesOrder:
    id: uuid.UUID
    number: int
    customer_id: uuid.UUID
    plant: str
    sku: str
    quantity: int
    due_date: date
    priority: int
    status: SalesOrderStatus = SalesOrderStatus.SUBMITTED
    reject_type: str | None = None
    reject_reason: str | None = None
    mes_order_id: uuid.UUID | None = None
    mes_status: MesStatus | None = None
    mes_version: int | None = None
    submit_attempts: int = 0
    next_attempt_at: datetime | None = None
    last_submit_error: str | None = None
    version: int = 1
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    trace_context: str | None = None
    """The W3C traceparent of the request that placed the order: its submission to the MES
    continues that trace, however much later it happens."""
    completion_notified_at: datetime | None = None
    """When the notification service called back that production completed (a hint: the
    status itself comes from the MES's order feed)."""

    def __post_init__(self) -> None:
        if self.quantity < 1:
            raise InvalidSalesOrder("quantity must be at least 1")
        if not PRIORITY_MIN <= self.priority <= PRIORITY_MAX:
            raise InvalidSalesOrder(f"priority must be between {PRIORITY_MIN} and {PRIORITY_MAX}")

    @property
    def order_ref(self) -> str:
        return format_number(self.number)

    @property
    def awaits_progress(self) -> bool:
        """Whether the MES may still change this order: not yet answered, or accepted and not
        yet completed or cancelled."""
        return self.status is SalesOrderStatus.SUBMITTED or (
            self.status is SalesOrderStatus.ACCEPTED and self.mes_status not in FINAL_MES_STATUSES
        )

    def settle(self, outcome: SubmissionOutcome, backoff: Backoff, now: datetime) -> bool:
        """Record what a submission attempt came to; False when there was nothing to change
        (the order was already accepted or rejected by an earlier attempt)."""
        if self.status is not SalesOrderStatus.SUBMITTED:
            return False
        if isinstance(outcome, RetryLater):
            wait = backoff.delay(self.submit_attempts)
            if outcome.retry_after_s is not None:
                wait = max(wait, min(outcome.retry_after_s, backoff.cap_s))
            self.next_attempt_at = now + timedelta(seconds=wait)
            self.last_submit_error = outcome.reason
            return True
        if isinstance(outcome, Accepted):
            self.status = SalesOrderStatus.ACCEPTED
            self.mes_order_id = outcome.mes_order_id
            if self.mes_version is None or outcome.mes_version > self.mes_version:
                self.mes_status, self.mes_version = outcome.mes_status, outcome.mes_version
        else:
            self.status = SalesOrderStatus.REJECTED
            self.reject_type, self.reject_reason = outcome.type, outcome.reason
        self.next_attempt_at = None
        self.last_submit_error = None
        self._changed(now)
        return True

    def observe(self, progress: MesProgress, now: datetime) -> bool:
        """Take the MES's view of this order's production order if it is newer than the one
        held; False when it is stale, or is not this order's production order at all."""
        if (
            progress.order_ref != self.order_ref
            or progress.plant != self.plant
            or progress.customer_ref != str(self.customer_id)
            or (self.mes_order_id is not None and progress.mes_order_id != self.mes_order_id)
            or (self.mes_version is not None and progress.version <= self.mes_version)
        ):
            return False
        self.mes_order_id = progress.mes_order_id
        self.mes_status, self.mes_version = progress.status, progress.version
        self._changed(now)
        return True

    def _changed(self, now: datetime) -> None:
        self.version += 1
        self.updated_at = now


def new_sales_order(
    *,
    number: int,
    customer: Customer,
    sku: str,
    quantity: int,
    due_date: date,
    priority: int,
    now: datetime | None = None,
) -> SalesOrder:
    """A sales order of the customer's plant, due for submission to the MES at once."""
    created = now or datetime.now(UTC)
    return SalesOrder(
        id=uuid.uuid4(),
        number=number,
        customer_id=customer.id,
        plant=customer.plant,
        sku=sku,
        quantity=quantity,
        due_date=due_date,
        priority=priority,
        next_attempt_at=created,
        created_at=created,
        updated_at=created,
    )
