"""Moving orders through their lifecycle over the API, and the conflicts it refuses."""

import pytest

from fixtures.mes import PATH_TO_STATUS, MesFactory, Plant
from preflight.clients.mes import ACTIONS, Action, MesClient
from preflight.expect import expect_problem, expect_status

LEGAL: dict[tuple[str, str], str] = {
    ("planned", "release"): "released",
    ("released", "start"): "in_progress",
    ("in_progress", "complete"): "completed",
    ("planned", "hold"): "on_hold",
    ("released", "hold"): "on_hold",
    ("in_progress", "hold"): "on_hold",
    ("planned", "cancel"): "cancelled",
    ("released", "cancel"): "cancelled",
    ("on_hold", "cancel"): "cancelled",
    ("on_hold", "resume"): "planned",
}


def test_an_order_goes_from_planned_to_completed(
    mes: MesClient, mes_factory: MesFactory, plant: Plant
) -> None:
    order = mes_factory.create_order(plant)
    for action, status, version in (
        ("release", "released", 2),
        ("start", "in_progress", 3),
        ("complete", "completed", 4),
    ):
        order = expect_status(mes.transition(order["id"], action), 200)
        assert (order["status"], order["version"]) == (status, version)
    assert expect_status(mes.get_order(order["id"]), 200) == order


@pytest.mark.parametrize("status", list(PATH_TO_STATUS))
@pytest.mark.parametrize("action", ACTIONS)
def test_each_action_is_allowed_only_from_its_statuses(
    mes: MesClient, mes_factory: MesFactory, plant: Plant, status: str, action: Action
) -> None:
    order = mes_factory.create_order(plant, status=status)

    response = mes.transition(order["id"], action)

    if (status, action) in LEGAL:
        assert expect_status(response, 200)["status"] == LEGAL[(status, action)]
    else:
        problem = expect_problem(response, 409, "illegal-transition")
        assert problem["current_status"] == status
        assert expect_status(mes.get_order(order["id"]), 200)["version"] == order["version"]


@pytest.mark.parametrize("held_from", ["planned", "released", "in_progress"])
def test_resume_returns_a_held_order_to_where_it_was(
    mes: MesClient, mes_factory: MesFactory, plant: Plant, held_from: str
) -> None:
    order = mes_factory.create_order(plant, status=held_from)
    expect_status(mes.transition(order["id"], "hold"), 200)
    assert expect_status(mes.transition(order["id"], "resume"), 200)["status"] == held_from


@pytest.mark.parametrize("action", ACTIONS)
def test_transitions_of_an_unknown_order_are_not_found(mes: MesClient, action: Action) -> None:
    expect_problem(mes.transition("5d1c9a43-0000-4000-8000-000000000000", action), 404, "not-found")


def test_if_match_refuses_a_change_based_on_a_stale_version(
    mes: MesClient, mes_factory: MesFactory, plant: Plant
) -> None:
    order = mes_factory.create_order(plant)
    expect_status(mes.transition(order["id"], "release", if_match=1), 200)

    problem = expect_problem(
        mes.transition(order["id"], "hold", if_match=1), 412, "precondition-failed"
    )

    assert problem["current_version"] == 2
    assert expect_status(mes.get_order(order["id"]), 200)["status"] == "released"


def test_a_malformed_if_match_is_refused(
    mes: MesClient, mes_factory: MesFactory, plant: Plant
) -> None:
    order = mes_factory.create_order(plant)
    response = mes.http.post(f"/orders/{order['id']}/release", headers={"If-Match": "yesterday"})
    expect_problem(response, 422, "validation-error")


def test_a_planner_reprioritizes_and_moves_the_due_date(
    mes: MesClient, mes_factory: MesFactory, plant: Plant
) -> None:
    order = mes_factory.create_order(plant, priority=4)

    updated = expect_status(
        mes.update_order(order["id"], {"priority": 1, "due_date": "2030-01-31"}), 200
    )

    assert (updated["priority"], updated["due_date"], updated["version"]) == (1, "2030-01-31", 2)
    assert expect_status(mes.get_order(order["id"]), 200) == updated


@pytest.mark.parametrize(
    "change", [{"priority": 9}, {"status": "completed"}, {"plant": "P2"}, {"quantity": 3}]
)
def test_an_update_cannot_set_what_it_does_not_own(
    mes: MesClient, mes_factory: MesFactory, plant: Plant, change: dict[str, object]
) -> None:
    order = mes_factory.create_order(plant)
    expect_problem(mes.update_order(order["id"], change), 422, "validation-error")
    assert expect_status(mes.get_order(order["id"]), 200) == order


def test_updating_an_unknown_order_is_not_found(mes: MesClient) -> None:
    expect_problem(
        mes.update_order("5d1c9a43-0000-4000-8000-000000000000", {"priority": 1}), 404, "not-found"
    )
