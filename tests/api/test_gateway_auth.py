"""Who may call the public API: bearer tokens, roles, and the plants a token sees.

Bad tokens (alg=none, HS/RS confusion, expiry, kid injection, ...) are the attack matrix of
tests/security/test_jwt_attacks.py."""

import pytest

from fixtures.mes import MesFactory, Plant
from preflight.clients.gateway import GatewayCallers
from preflight.expect import expect_problem, expect_status
from preflight.tokens import signing_key
from reference_services.platform.auth import issue_token

ORDER_ID = "0b0f6c1e-5d37-4a43-9b8d-2a4c1f0e9d11"


def test_a_request_without_a_token_is_challenged(callers: GatewayCallers) -> None:
    response = callers.with_token(None).list_orders()

    problem = expect_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert problem["instance"] == "/api/v1/orders"


@pytest.mark.parametrize("authorization", ["Basic YWRtaW46YWRtaW4=", "Bearer", "Token abc.def.ghi"])
def test_credentials_without_a_bearer_token_are_unauthorized(
    callers: GatewayCallers, authorization: str
) -> None:
    client = callers.with_token(None)

    response = client.http.get("/orders", headers={"Authorization": authorization})

    expect_problem(response, 401, "unauthorized")


@pytest.mark.parametrize(
    ("role", "method", "path"),
    [
        ("operator", "POST", "/orders"),
        ("operator", "POST", f"/orders/{ORDER_ID}/release"),
        ("operator", "POST", "/work-centers"),
        ("crm-integration", "PATCH", f"/orders/{ORDER_ID}"),
        ("crm-integration", "POST", f"/orders/{ORDER_ID}/cancel"),
        ("planner", "POST", "/customers"),
        ("planner", "DELETE", f"/orders/{ORDER_ID}"),
    ],
)
def test_a_role_may_not_call_what_its_policy_does_not_grant(
    callers: GatewayCallers, role: str, method: str, path: str
) -> None:
    response = callers(role).http.request(method, path, json={})

    problem = expect_problem(response, 403, "forbidden")
    assert role in problem["detail"]


def test_a_token_that_grants_no_plant_is_forbidden(callers: GatewayCallers) -> None:
    key = signing_key(callers.target)
    token = issue_token(key, subject="nobody", roles=["planner"], plants=[])

    expect_problem(callers.with_token(token).list_orders(), 403, "forbidden")


def test_a_path_no_route_serves_is_not_found(callers: GatewayCallers) -> None:
    admin = callers("admin")

    expect_problem(admin.http.get("/invoices"), 404, "not-found")
    expect_problem(admin.http.get("/orders/%2E%2E/work-centers"), 404, "not-found")
    expect_problem(admin.http.get("/orders/"), 404, "not-found")


def test_another_plants_order_is_not_found_and_not_listed(
    callers: GatewayCallers, mes_factory: MesFactory, plant: Plant
) -> None:
    order = mes_factory.create_order(plant)
    insider = callers("planner", plant.code).sees_writes_of(mes_factory.client)
    outsider = callers("planner", mes_factory.build_plant_code()).sees_writes_of(mes_factory.client)

    assert expect_status(insider.get_order(order["id"]), 200)["id"] == order["id"]
    expect_problem(outsider.get_order(order["id"]), 404, "not-found")
    expect_problem(outsider.transition(order["id"], "release"), 404, "not-found")
    assert list(outsider.iter_orders(plant=plant.code)) == []
    assert [o["id"] for o in insider.iter_orders(plant=plant.code)] == [order["id"]]


def test_a_client_cannot_widen_its_plant_scope_with_the_header(
    callers: GatewayCallers, mes_factory: MesFactory, plant: Plant
) -> None:
    order = mes_factory.create_order(plant)
    outsider = callers("operator", mes_factory.build_plant_code()).sees_writes_of(
        mes_factory.client
    )

    response = outsider.get_order(order["id"], headers={"X-Plant-Scope": "*"})

    expect_problem(response, 404, "not-found")


def test_an_all_plants_token_sees_every_plant(
    callers: GatewayCallers, mes_factory: MesFactory, plant: Plant
) -> None:
    order = mes_factory.create_order(plant)

    admin = callers("admin").sees_writes_of(mes_factory.client)

    assert expect_status(admin.get_order(order["id"]), 200)["plant"] == plant.code
