"""Where the gateway sends a public path, and which roles may call it (tables only, no server)."""

import pytest

from reference_services.gateway.domain.routes import (
    ORDER_ACTIONS,
    POLICY,
    ROUTES,
    Route,
    Table,
)
from reference_services.platform.auth import ROLES

TABLE = Table()
ORDER = "/orders/0b0f6c1e-5d37-4a43-9b8d-2a4c1f0e9d11"

# Every operation of the public API and the roles allowed to call it (admin may call anything).
MATRIX: list[tuple[str, str, set[str]]] = [
    ("GET", "/orders", {"planner", "operator", "crm-integration"}),
    ("GET", ORDER, {"planner", "operator", "crm-integration"}),
    ("POST", "/orders", {"planner", "crm-integration"}),
    ("PATCH", ORDER, {"planner"}),
    ("POST", f"{ORDER}/release", {"planner"}),
    ("POST", f"{ORDER}/start", {"planner", "operator"}),
    ("POST", f"{ORDER}/complete", {"planner", "operator"}),
    ("POST", f"{ORDER}/hold", {"planner"}),
    ("POST", f"{ORDER}/resume", {"planner"}),
    ("POST", f"{ORDER}/cancel", {"planner"}),
    ("POST", f"{ORDER}/operations/2/start", {"planner", "operator"}),
    ("POST", f"{ORDER}/operations/2/complete", {"planner", "operator"}),
    ("GET", "/products", {"planner", "operator", "crm-integration"}),
    ("GET", "/products/P1/BRKT-1042", {"planner", "operator", "crm-integration"}),
    ("POST", "/products", {"planner"}),
    ("GET", "/work-centers", {"planner", "operator"}),
    ("POST", "/work-centers", {"planner"}),
    ("GET", "/operators/42", {"planner"}),
    ("POST", "/operators", {"planner"}),
    ("GET", "/customers", {"planner", "crm-integration"}),
    ("GET", "/customers/7", {"planner", "crm-integration"}),
    ("POST", "/customers", {"crm-integration"}),
    ("PATCH", "/customers/7", {"crm-integration"}),
    ("GET", "/sales-orders/9", {"planner", "crm-integration"}),
    ("POST", "/sales-orders", {"crm-integration"}),
    ("POST", "/sales-orders/9/cancel", {"crm-integration"}),
    ("DELETE", ORDER, set()),
    ("PUT", "/work-centers", set()),
    ("GET", f"{ORDER}/operations", set()),
]


@pytest.mark.parametrize(("method", "path", "allowed"), MATRIX)
@pytest.mark.parametrize("role", ROLES)
def test_each_role_may_call_exactly_its_operations(
    role: str, method: str, path: str, allowed: set[str]
) -> None:
    decision = TABLE.decide(frozenset({role}), method, path)

    assert decision is not None
    assert decision.allowed == (role == "admin" or role in allowed)


def test_a_caller_with_several_roles_may_do_what_any_of_them_may() -> None:
    alone = TABLE.decide(frozenset({"operator"}), "POST", "/orders")
    together = TABLE.decide(frozenset({"operator", "crm-integration"}), "POST", "/orders")

    assert alone is not None
    assert not alone.allowed
    assert together is not None
    assert together.allowed


def test_no_role_may_do_nothing() -> None:
    decision = TABLE.decide(frozenset(), "GET", "/orders")
    assert decision is not None
    assert not decision.allowed


@pytest.mark.parametrize(
    ("path", "upstream", "upstream_path"),
    [
        ("/orders", "mes", "/orders"),
        (f"{ORDER}/operations/1/start", "mes", f"{ORDER}/operations/1/start"),
        ("/products/P1/SKU-1", "mes", "/products/P1/SKU-1"),
        ("/work-centers", "mes", "/work-centers"),
        ("/operators/1", "mes", "/operators/1"),
        ("/customers/1", "crm", "/customers/1"),
        ("/sales-orders", "crm", "/sales-orders"),
        ("/reports/orders", "reporting", "/reports/orders"),
        ("/webhooks", "notification", "/webhooks"),
    ],
)
def test_the_route_table_names_the_upstream_and_its_path(
    path: str, upstream: str, upstream_path: str
) -> None:
    route = TABLE.route(path)

    assert route is not None
    assert (route.upstream, route.upstream_path(path)) == (upstream, upstream_path)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/health/live",
        "/metrics",
        "/ordersx",
        "/orders/",
        "/orders//start",
        "/orders/../work-centers",
        "/orders/./1",
        "",
    ],
)
def test_paths_no_route_serves_are_not_found_for_anyone(path: str) -> None:
    assert TABLE.route(path) is None
    assert TABLE.decide(frozenset({"admin"}), "GET", path) is None


def test_a_prefix_can_be_rewritten() -> None:
    table = Table([Route("/orders", "mes", "/v2/production-orders")], {"admin": ("* /**",)})

    route = table.route("/orders/7/start")

    assert route is not None
    assert route.upstream_path("/orders/7/start") == "/v2/production-orders/7/start"
    assert table.public_location("mes", "/v2/production-orders/7") == "/api/v1/orders/7"
    assert table.public_location("mes", "/elsewhere/7") == "/elsewhere/7"


def test_locations_become_public_paths() -> None:
    assert TABLE.public_location("mes", f"{ORDER}") == f"/api/v1{ORDER}"
    assert TABLE.public_location("crm", "/sales-orders/9") == "/api/v1/sales-orders/9"
    assert TABLE.public_location("crm", "/orders/9") == "/orders/9"


@pytest.mark.parametrize(
    ("method", "path", "template"),
    [
        ("GET", ORDER, "/api/v1/orders/{id}"),
        ("POST", f"{ORDER}/start", "/api/v1/orders/{id}/start"),
        ("POST", f"{ORDER}/operations/3/complete", "/api/v1/orders/{id}/operations/{seq}/complete"),
        ("GET", "/customers/7", "/api/v1/customers/**"),
        ("DELETE", ORDER, "/api/v1/orders/**"),
    ],
)
def test_decisions_name_the_route_template_not_the_raw_path(
    method: str, path: str, template: str
) -> None:
    decision = TABLE.decide(frozenset({"admin"}), method, path)

    assert decision is not None
    assert decision.path == template


def test_every_role_of_the_token_model_has_a_policy_and_every_action_is_granted() -> None:
    assert set(POLICY) == set(ROLES)
    planner = set(POLICY["planner"])
    assert {f"POST /orders/{{id}}/{action}" for action in ORDER_ACTIONS} <= planner
    assert {route.upstream for route in ROUTES} == {"mes", "crm", "reporting", "notification"}


def test_a_bad_policy_pattern_is_refused() -> None:
    with pytest.raises(ValueError, match="bad policy pattern"):
        Table(ROUTES, {"admin": ("GET /orders/**/start",)})
