"""OWASP API5 (broken function level authorization): every operation of the gateway's OpenAPI
document called with a token of every role, the answer checked against the gateway's policy
table. The matrix is generated: a new operation is checked the day it enters the contract."""

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from preflight.clients.gateway import GatewayCallers
from reference_services.gateway.domain.routes import POLICY, PUBLIC_PREFIX, Table

SPEC = Path(__file__).parents[2] / "contracts" / "openapi" / "gateway.yaml"
METHODS = ("get", "post", "put", "patch", "delete")
ROLES = sorted(POLICY)
EXAMPLES = {
    "seq": "1",
    "number": "1",
    "plant": "P1",
    "sku": "SKU-NONE",
}


def operations() -> list[tuple[str, str]]:
    document: dict[str, Any] = yaml.safe_load(SPEC.read_text())
    return [
        (method.upper(), path)
        for path, item in document["paths"].items()
        if path.startswith(PUBLIC_PREFIX)
        for method in METHODS
        if method in item
    ]


def concrete(template: str) -> str:
    """The template with its parameters filled in (ids that exist nowhere)."""
    parts = []
    for part in template.split("/"):
        if part.startswith("{"):
            name = part.strip("{}")
            parts.append(EXAMPLES.get(name, str(uuid.uuid4())))
        else:
            parts.append(part)
    return "/".join(parts)


def test_the_matrix_covers_every_operation_of_the_contract() -> None:
    found = operations()
    assert len(found) >= 30
    table = Table()
    unrouted = [
        f"{m} {p}"
        for m, p in found
        if table.decide(frozenset(), m, p[len(PUBLIC_PREFIX) :]) is None
    ]
    assert unrouted == [], "operations of the contract no route serves"


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_exactly_the_operations_its_policy_grants(
    role: str, callers: GatewayCallers
) -> None:
    table = Table()
    wrong: list[str] = []
    client = callers(role, "P1")
    for method, template in operations():
        path = concrete(template)
        decision = table.decide(frozenset({role}), method, path[len(PUBLIC_PREFIX) :])
        assert decision is not None
        body: dict[str, Any] | None = {} if method in ("POST", "PUT", "PATCH") else None
        response = client.http.request(method, client.gateway_url + path, json=body)
        refused = response.status_code == 403
        if refused == decision.allowed:
            wrong.append(
                f"{method} {template}: policy {'allows' if decision.allowed else 'denies'},"
                f" gateway answered {response.status_code}"
            )
        assert response.status_code < 500 or response.status_code == 503, (
            f"{method} {template} -> {response.status_code}: {response.text[:300]}"
        )
    assert wrong == [], "\n".join(wrong)
