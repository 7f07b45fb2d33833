"""Operators work an order's operations in sequence; the first starts it, the last completes it."""

import pytest

from fixtures.mes import MesFactory, Plant
from preflight.clients.mes import MesClient
from preflight.expect import expect_problem, expect_status


@pytest.fixture
def three_step_order(mes_factory: MesFactory, plant: Plant) -> dict[str, object]:
    steps = [
        {"work_center": wc, "description": f"step at {wc}", "planned_minutes": 15}
        for wc in plant.work_centers
    ]
    return mes_factory.create_order(plant, status="released", operations=steps)


def test_operations_run_in_sequence_and_the_last_completes_the_order(
    mes: MesClient, three_step_order: dict[str, object]
) -> None:
    order_id = str(three_step_order["id"])

    first = expect_status(mes.operation(order_id, 1, "start"), 200)
    assert first["status"] == "in_progress"
    assert [op["status"] for op in first["operations"]] == ["in_progress", "pending", "pending"]

    for seq in (1, 2, 3):
        if seq > 1:
            expect_status(mes.operation(order_id, seq, "start"), 200)
        done = expect_status(mes.operation(order_id, seq, "complete"), 200)

    assert done["status"] == "completed"
    assert [op["status"] for op in done["operations"]] == ["done", "done", "done"]
    assert done["version"] == 2 + 6, "one new version per command, from version 2 (released)"
    assert expect_status(mes.get_order(order_id), 200) == done


def test_an_operation_cannot_start_before_the_previous_one_is_done(
    mes: MesClient, three_step_order: dict[str, object]
) -> None:
    order_id = str(three_step_order["id"])
    problem = expect_problem(mes.operation(order_id, 2, "start"), 409, "illegal-transition")
    assert "operation 1 is not done" in problem["detail"]

    expect_status(mes.operation(order_id, 1, "start"), 200)
    expect_problem(mes.operation(order_id, 2, "start"), 409, "illegal-transition")


@pytest.mark.parametrize("status", ["planned", "on_hold", "cancelled"])
def test_operations_of_an_order_that_is_not_released_cannot_start(
    mes: MesClient, mes_factory: MesFactory, plant: Plant, status: str
) -> None:
    order = mes_factory.create_order(plant, status=status)
    problem = expect_problem(mes.operation(order["id"], 1, "start"), 409, "illegal-transition")
    assert problem["current_status"] == status


def test_an_operation_is_started_once_and_completed_once(
    mes: MesClient, three_step_order: dict[str, object]
) -> None:
    order_id = str(three_step_order["id"])
    expect_problem(mes.operation(order_id, 1, "complete"), 409, "illegal-transition")
    expect_status(mes.operation(order_id, 1, "start"), 200)
    expect_problem(mes.operation(order_id, 1, "start"), 409, "illegal-transition")
    expect_status(mes.operation(order_id, 1, "complete"), 200)
    expect_problem(mes.operation(order_id, 1, "complete"), 409, "illegal-transition")


def test_an_operation_the_order_does_not_have_is_not_found(
    mes: MesClient, three_step_order: dict[str, object]
) -> None:
    expect_problem(mes.operation(str(three_step_order["id"]), 9, "start"), 404, "not-found")


def test_completing_the_order_itself_finishes_its_open_operations(
    mes: MesClient, three_step_order: dict[str, object]
) -> None:
    order_id = str(three_step_order["id"])
    expect_status(mes.operation(order_id, 1, "start"), 200)
    completed = expect_status(mes.transition(order_id, "complete"), 200)
    assert [op["status"] for op in completed["operations"]] == ["done", "done", "done"]


def test_a_stale_if_match_refuses_an_operation_change(
    mes: MesClient, three_step_order: dict[str, object]
) -> None:
    order_id = str(three_step_order["id"])
    expect_problem(mes.operation(order_id, 1, "start", if_match=1), 412, "precondition-failed")
    expect_status(
        mes.operation(order_id, 1, "start", if_match=int(str(three_step_order["version"]))), 200
    )
