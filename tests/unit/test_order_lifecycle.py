"""The production order lifecycle, checked on the domain model alone (no database)."""

from datetime import date

import pytest

from reference_services.mes.domain.model import (
    Action,
    IllegalTransition,
    InvalidOrder,
    OperationStatus,
    OrderStatus,
    ProductionOrder,
    UnknownOperation,
    new_order,
)

LEGAL = {
    (OrderStatus.PLANNED, Action.RELEASE): OrderStatus.RELEASED,
    (OrderStatus.RELEASED, Action.START): OrderStatus.IN_PROGRESS,
    (OrderStatus.IN_PROGRESS, Action.COMPLETE): OrderStatus.COMPLETED,
    (OrderStatus.PLANNED, Action.HOLD): OrderStatus.ON_HOLD,
    (OrderStatus.RELEASED, Action.HOLD): OrderStatus.ON_HOLD,
    (OrderStatus.IN_PROGRESS, Action.HOLD): OrderStatus.ON_HOLD,
    (OrderStatus.PLANNED, Action.CANCEL): OrderStatus.CANCELLED,
    (OrderStatus.RELEASED, Action.CANCEL): OrderStatus.CANCELLED,
    (OrderStatus.ON_HOLD, Action.CANCEL): OrderStatus.CANCELLED,
}
PATHS = {
    OrderStatus.PLANNED: [],
    OrderStatus.RELEASED: [Action.RELEASE],
    OrderStatus.IN_PROGRESS: [Action.RELEASE, Action.START],
    OrderStatus.COMPLETED: [Action.RELEASE, Action.START, Action.COMPLETE],
    OrderStatus.CANCELLED: [Action.CANCEL],
    OrderStatus.ON_HOLD: [Action.HOLD],
}


def an_order(**overrides: object) -> ProductionOrder:
    fields: dict[str, object] = {
        "order_ref": "SO-1",
        "customer_ref": "C-1",
        "sku": "SKU-1",
        "quantity": 10,
        "due_date": date(2026, 12, 1),
        "plant": "P1",
        "priority": 3,
        "operations": [("CNC-01", "mill", 30), ("QA-01", "inspect", 10)],
    }
    fields.update(overrides)
    return new_order(**fields)  # type: ignore[arg-type]


def order_in(status: OrderStatus) -> ProductionOrder:
    order = an_order()
    for action in PATHS[status]:
        order.apply(action)
    return order


def test_new_order_is_planned_at_version_one_with_numbered_operations() -> None:
    order = an_order()
    assert order.status is OrderStatus.PLANNED
    assert order.version == 1
    assert [op.seq for op in order.operations] == [1, 2]
    assert [e.name for e in order.events] == ["order.created"]


@pytest.mark.parametrize("status", list(OrderStatus))
@pytest.mark.parametrize("action", [a for a in Action if a is not Action.RESUME])
def test_every_transition_is_legal_exactly_when_the_lifecycle_allows_it(
    status: OrderStatus, action: Action
) -> None:
    order = order_in(status)
    version = order.version
    expected = LEGAL.get((status, action))
    if expected is None:
        with pytest.raises(IllegalTransition):
            order.apply(action)
        assert order.status is status
        assert order.version == version
    else:
        order.apply(action)
        assert order.status is expected
        assert order.version == version + 1


@pytest.mark.parametrize(
    "held_from", [OrderStatus.PLANNED, OrderStatus.RELEASED, OrderStatus.IN_PROGRESS]
)
def test_resume_returns_to_the_status_the_order_was_held_from(held_from: OrderStatus) -> None:
    order = order_in(held_from)
    order.apply(Action.HOLD)
    order.apply(Action.RESUME)
    assert order.status is held_from
    assert order.held_from is None


@pytest.mark.parametrize("status", [s for s in OrderStatus if s is not OrderStatus.ON_HOLD])
def test_resume_is_illegal_unless_on_hold(status: OrderStatus) -> None:
    with pytest.raises(IllegalTransition, match="cannot resume"):
        order_in(status).apply(Action.RESUME)


def test_cancelling_a_started_order_is_illegal() -> None:
    order = order_in(OrderStatus.IN_PROGRESS)
    with pytest.raises(IllegalTransition, match="cannot cancel an order that is in_progress"):
        order.apply(Action.CANCEL)


def test_each_change_records_an_event_with_the_previous_status() -> None:
    order = an_order()
    order.apply(Action.RELEASE)
    order.apply(Action.HOLD)
    assert [(e.name, e.previous_status, e.status) for e in order.events[1:]] == [
        ("order.released", OrderStatus.PLANNED, OrderStatus.RELEASED),
        ("order.held", OrderStatus.RELEASED, OrderStatus.ON_HOLD),
    ]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"quantity": 0}, "quantity"),
        ({"priority": 0}, "priority"),
        ({"priority": 6}, "priority"),
        ({"operations": []}, "at least one operation"),
    ],
)
def test_invalid_orders_are_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidOrder, match=message):
        an_order(**overrides)


def test_reprioritize_changes_priority_and_due_date_and_bumps_the_version() -> None:
    order = an_order()
    order.reprioritize(1, date(2026, 11, 30))
    assert (order.priority, order.due_date, order.version) == (1, date(2026, 11, 30), 2)
    with pytest.raises(InvalidOrder):
        order.reprioritize(9, None)


def released_order() -> ProductionOrder:
    order = an_order()
    order.apply(Action.RELEASE)
    order.events.clear()
    return order


def test_starting_the_first_operation_starts_the_order_in_one_version() -> None:
    order = released_order()
    order.start_operation(1)
    assert order.status is OrderStatus.IN_PROGRESS
    assert order.version == 3
    assert [(e.name, e.operation_seq) for e in order.events] == [
        ("order.started", None),
        ("operation.started", 1),
    ]


def test_completing_the_last_operation_completes_the_order_in_one_version() -> None:
    order = released_order()
    for seq in (1, 2):
        order.start_operation(seq)
        order.complete_operation(seq)
    assert order.status is OrderStatus.COMPLETED
    assert order.version == 2 + 4
    assert order.events[-2:][0].name == "operation.completed"
    assert order.events[-1].name == "order.completed"


def test_operations_run_strictly_in_sequence() -> None:
    order = released_order()
    with pytest.raises(IllegalTransition, match="operation 1 is not done"):
        order.start_operation(2)
    order.start_operation(1)
    with pytest.raises(IllegalTransition, match="operation 1 is not done"):
        order.start_operation(2)


def test_an_unknown_operation_is_named() -> None:
    with pytest.raises(UnknownOperation, match="no operation 3"):
        released_order().start_operation(3)


def test_an_order_level_complete_finishes_every_operation() -> None:
    order = released_order()
    order.apply(Action.START)
    order.apply(Action.COMPLETE)
    assert {op.status for op in order.operations} == {OperationStatus.DONE}
