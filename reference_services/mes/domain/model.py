"""Production orders and their lifecycle. Pure Python: no web, database or cache imports."""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum


class OrderStatus(StrEnum):
    PLANNED = "planned"
    RELEASED = "released"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    ON_HOLD = "on_hold"


class OperationStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class Action(StrEnum):
    RELEASE = "release"
    START = "start"
    COMPLETE = "complete"
    HOLD = "hold"
    RESUME = "resume"
    CANCEL = "cancel"


_MOVES: dict[Action, dict[OrderStatus, OrderStatus]] = {
    Action.RELEASE: {OrderStatus.PLANNED: OrderStatus.RELEASED},
    Action.START: {OrderStatus.RELEASED: OrderStatus.IN_PROGRESS},
    Action.COMPLETE: {OrderStatus.IN_PROGRESS: OrderStatus.COMPLETED},
    Action.HOLD: {
        OrderStatus.PLANNED: OrderStatus.ON_HOLD,
        OrderStatus.RELEASED: OrderStatus.ON_HOLD,
        OrderStatus.IN_PROGRESS: OrderStatus.ON_HOLD,
    },
    Action.CANCEL: {
        OrderStatus.PLANNED: OrderStatus.CANCELLED,
        OrderStatus.RELEASED: OrderStatus.CANCELLED,
        OrderStatus.ON_HOLD: OrderStatus.CANCELLED,
    },
}

PRIORITY_MIN = 1
PRIORITY_MAX = 5


class DomainError(Exception):
    pass


class OperationAction(StrEnum):
    START = "start"
    COMPLETE = "complete"


class IllegalTransition(DomainError):
    def __init__(self, detail: str, status: OrderStatus) -> None:
        super().__init__(detail)
        self.status = status


class UnknownOperation(DomainError):
    def __init__(self, seq: int) -> None:
        super().__init__(f"the order has no operation {seq}")
        self.seq = seq


class InvalidOrder(DomainError):
    pass


@dataclass
class Operation:
    seq: int
    work_center: str
    description: str
    planned_minutes: int
    status: OperationStatus = OperationStatus.PENDING


@dataclass
class OrderEvent:
    name: str
    order_id: uuid.UUID
    status: OrderStatus
    previous_status: OrderStatus | None
    operation_seq: int | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class ProductionOrder:
    id: uuid.UUID
    order_ref: str
    customer_ref: str
    sku: str
    quantity: int
    due_date: date
    plant: str
    priority: int
    operations: list[Operation]
    status: OrderStatus = OrderStatus.PLANNED
    held_from: OrderStatus | None = None
    version: int = 1
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    events: list[OrderEvent] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.quantity < 1:
            raise InvalidOrder("quantity must be at least 1")
        if not PRIORITY_MIN <= self.priority <= PRIORITY_MAX:
            raise InvalidOrder(f"priority must be between {PRIORITY_MIN} and {PRIORITY_MAX}")
        if not self.operations:
            raise InvalidOrder("an order needs at least one operation")
        if [op.seq for op in self.operations] != list(range(1, len(self.operations) + 1)):
            raise InvalidOrder("operations must be numbered 1..n in order")

    @property
    def work_centers(self) -> set[str]:
        return {op.work_center for op in self.operations}

    def apply(self, action: Action, now: datetime | None = None) -> None:
        previous = self.status
        refused = IllegalTransition(f"cannot {action} an order that is {self.status}", self.status)
        if action is Action.RESUME:
            if self.status is not OrderStatus.ON_HOLD or self.held_from is None:
                raise refused
            self.status, self.held_from = self.held_from, None
        else:
            target = _MOVES[action].get(self.status)
            if target is None:
                raise refused
            if action is Action.HOLD:
                self.held_from = self.status
            if action is Action.COMPLETE:
                for op in self.operations:
                    op.status = OperationStatus.DONE
            self.status = target
        self._changed(f"order.{_PAST[action]}", previous, now)

    def operation(self, seq: int) -> Operation:
        if not 1 <= seq <= len(self.operations):
            raise UnknownOperation(seq)
        return self.operations[seq - 1]

    def start_operation(self, seq: int, now: datetime | None = None) -> None:
        """An operator starts the next operation; the first puts a released order in progress."""
        op = self.operation(seq)
        if self.status not in (OrderStatus.RELEASED, OrderStatus.IN_PROGRESS):
            raise IllegalTransition(
                f"cannot start operation {seq} of an order that is {self.status}", self.status
            )
        if op.status is not OperationStatus.PENDING:
            raise IllegalTransition(f"operation {seq} is already {op.status}", self.status)
        waiting = [
            p.seq for p in self.operations[: seq - 1] if p.status is not OperationStatus.DONE
        ]
        if waiting:
            raise IllegalTransition(f"operation {waiting[0]} is not done yet", self.status)
        previous = self.status
        if previous is OrderStatus.RELEASED:
            self.status = OrderStatus.IN_PROGRESS
            self._changed("order.started", previous, now)
        op.status = OperationStatus.IN_PROGRESS
        self._changed(
            "operation.started",
            self.status,
            now,
            seq,
            new_version=previous is not OrderStatus.RELEASED,
        )

    def complete_operation(self, seq: int, now: datetime | None = None) -> None:
        """An operator completes a running operation; the last one completes the order."""
        op = self.operation(seq)
        if (
            self.status is not OrderStatus.IN_PROGRESS
            or op.status is not OperationStatus.IN_PROGRESS
        ):
            raise IllegalTransition(
                f"cannot complete operation {seq}: it is {op.status} and the order {self.status}",
                self.status,
            )
        op.status = OperationStatus.DONE
        self._changed("operation.completed", self.status, now, seq)
        if all(p.status is OperationStatus.DONE for p in self.operations):
            self.status = OrderStatus.COMPLETED
            self._changed("order.completed", OrderStatus.IN_PROGRESS, now, new_version=False)

    def check_scrap(self, seq: int, quantity: int) -> None:
        """Scrap can be reported on an operation that has started, of at most the order's
        quantity; reporting it changes neither the order's status nor its version."""
        op = self.operation(seq)
        if self.status not in (OrderStatus.IN_PROGRESS, OrderStatus.COMPLETED):
            raise IllegalTransition(
                f"cannot report scrap on an order that is {self.status}", self.status
            )
        if op.status is OperationStatus.PENDING:
            raise IllegalTransition(f"operation {seq} has not started", self.status)
        if not 1 <= quantity <= self.quantity:
            raise InvalidOrder(f"scrap must be between 1 and {self.quantity}")

    def reprioritize(
        self, priority: int | None, due_date: date | None, now: datetime | None = None
    ) -> None:
        if priority is not None:
            if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
                raise InvalidOrder(f"priority must be between {PRIORITY_MIN} and {PRIORITY_MAX}")
            self.priority = priority
        if due_date is not None:
            self.due_date = due_date
        self._changed("order.updated", self.status, now)

    def _changed(
        self,
        name: str,
        previous: OrderStatus,
        now: datetime | None,
        seq: int | None = None,
        *,
        new_version: bool = True,
    ) -> None:
        if new_version:
            self.version += 1
        self.updated_at = now or datetime.now(UTC)
        self.events.append(OrderEvent(name, self.id, self.status, previous, seq, self.updated_at))


_PAST = {
    Action.RELEASE: "released",
    Action.START: "started",
    Action.COMPLETE: "completed",
    Action.HOLD: "held",
    Action.RESUME: "resumed",
    Action.CANCEL: "cancelled",
}


def new_order(
    *,
    order_ref: str,
    customer_ref: str,
    sku: str,
    quantity: int,
    due_date: date,
    plant: str,
    priority: int,
    operations: list[tuple[str, str, int]],
    order_id: uuid.UUID | None = None,
) -> ProductionOrder:
    order = ProductionOrder(
        id=order_id or uuid.uuid4(),
        order_ref=order_ref,
        customer_ref=customer_ref,
        sku=sku,
        quantity=quantity,
        due_date=due_date,
        plant=plant,
        priority=priority,
        operations=[
            Operation(seq, work_center, description, minutes)
            for seq, (work_center, description, minutes) in enumerate(operations, start=1)
        ],
    )
    order.events.append(
        OrderEvent("order.created", order.id, order.status, None, at=order.created_at)
    )
    return order
