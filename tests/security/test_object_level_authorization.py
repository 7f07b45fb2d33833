"""OWASP API1 (broken object level authorization) and API3 (mass assignment), through the
gateway: a token sees and changes only its plants' orders, and a body cannot set what only the
server decides (id, status, version, another plant)."""

import uuid

from fixtures.mes import MesFactory, Plant
from preflight.clients.gateway import GatewayCallers
from preflight.expect import expect_status


def test_an_order_of_another_plant_is_invisible_and_untouchable(
    callers: GatewayCallers, mes_factory: MesFactory, plant: Plant
) -> None:
    order = mes_factory.create_order(plant)
    stranger = callers("planner", "ELSEWHERE")
    path = f"/orders/{order['id']}"

    assert stranger.get_order(order["id"]).status_code == 404
    assert stranger.transition(order["id"], "release").status_code == 404
    assert stranger.update_order(order["id"], {"priority": 1}).status_code == 404
    assert stranger.http.post(f"{path}/operations/1/start").status_code == 404
    listed = stranger.http.get("/orders", params={"plant": plant.code})
    assert listed.status_code in (403, 404) or listed.json()["items"] == []
    # ... and the order is as it was.
    owner = callers("planner", plant.code)
    assert expect_status(owner.get_order(order["id"]), 200)["status"] == "planned"


def test_a_new_order_cannot_choose_its_id_status_or_version(
    callers: GatewayCallers, mes_factory: MesFactory, plant: Plant
) -> None:
    planner = callers("planner", plant.code)
    chosen = str(uuid.uuid4())
    body = mes_factory.build_order(plant) | {"id": chosen, "status": "completed", "version": 9}

    response = planner.create_order(body)

    if response.status_code == 422:
        return  # refused outright: also right
    created = expect_status(response, 201)
    assert created["id"] != chosen
    assert (created["status"], created["version"]) == ("planned", 1)


def test_an_order_cannot_be_written_into_a_plant_the_token_does_not_hold(
    callers: GatewayCallers, mes_factory: MesFactory, plant: Plant
) -> None:
    planner = callers("planner", "ELSEWHERE")

    response = planner.create_order(mes_factory.build_order(plant))

    assert response.status_code in (403, 404), response.text


def test_an_update_cannot_move_an_order_or_skip_its_lifecycle(
    callers: GatewayCallers, mes_factory: MesFactory, plant: Plant
) -> None:
    order = mes_factory.create_order(plant)
    planner = callers("planner", plant.code)

    response = planner.update_order(
        order["id"], {"status": "completed", "plant": "ELSEWHERE", "id": str(uuid.uuid4())}
    )

    assert response.status_code in (200, 422), response.text
    after = expect_status(planner.get_order(order["id"]), 200)
    assert (after["id"], after["plant"], after["status"]) == (order["id"], plant.code, "planned")
