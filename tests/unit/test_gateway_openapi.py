"""The gateway's public OpenAPI document is composed from the upstreams' own documents."""

from typing import Any

import pytest

from reference_services.gateway.domain.routes import ROUTES, Route
from reference_services.gateway.entrypoints.openapi import public_document
from reference_services.openapi_export import app_spec

GATEWAY_ERRORS = ("401", "403", "429", "502", "503", "504")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return app_spec("gateway")


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_every_mes_operation_is_served_under_api_v1(document: dict[str, Any]) -> None:
    mes_paths = {
        path
        for path in app_spec("mes")["paths"]
        if any(path.startswith(r.rewrite) for r in ROUTES if r.upstream == "mes")
    }

    assert {f"/api/v1{path}" for path in mes_paths} <= set(document["paths"])
    assert all(path.startswith("/api/v1/") for path in document["paths"])
    assert "/api/v1/health/live" not in document["paths"]


def test_bearer_auth_applies_to_every_operation(document: dict[str, Any]) -> None:
    assert document["security"] == [{"bearerAuth": []}]
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert not [op for _, _, op in operations(document) if "security" in op]


def test_every_operation_documents_the_gateways_problems(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        responses = operation["responses"]
        expected = GATEWAY_ERRORS + (("413",) if "requestBody" in operation else ())
        for status in expected:
            assert "application/problem+json" in responses[status]["content"], (
                method,
                path,
                status,
            )
        assert "Retry-After" in responses["429"]["headers"]


def test_the_plant_scope_header_is_the_gateways_business(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        names = {p["name"].lower() for p in operation.get("parameters", ())}
        assert "x-plant-scope" not in names, (method, path)


def test_operation_ids_stay_unique(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) == len(set(ids))


def upstream_doc(schemas: dict[str, Any], ref: str) -> dict[str, Any]:
    return {
        "paths": {
            "/things": {
                "get": {
                    "operationId": "list_things",
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": f"#/components/schemas/{ref}"}
                                }
                            },
                        }
                    },
                }
            },
            "/health/live": {"get": {"responses": {}}},
        },
        "components": {"schemas": schemas},
    }


def test_schemas_of_the_same_name_are_shared_when_equal_and_prefixed_when_not() -> None:
    page = {"type": "object", "properties": {"items": {"$ref": "#/components/schemas/Thing"}}}
    error = {"type": "object", "title": "Error"}
    routes = [Route("/a", "alpha", "/things"), Route("/b", "beta", "/things")]
    alpha = upstream_doc({"Page": page, "Thing": {"type": "string"}, "Error": error}, "Page")
    beta = upstream_doc({"Page": page, "Thing": {"type": "integer"}, "Error": error}, "Page")

    composed = public_document(routes, {"alpha": alpha, "beta": beta}, version="1")

    schemas = composed["components"]["schemas"]
    assert {"Page", "Thing", "Error", "BetaPage", "BetaThing"} <= set(schemas)
    assert "BetaError" not in schemas
    assert schemas["BetaPage"]["properties"]["items"]["$ref"] == "#/components/schemas/BetaThing"
    beta_ok = composed["paths"]["/api/v1/b"]["get"]["responses"]["200"]
    assert beta_ok["content"]["application/json"]["schema"]["$ref"].endswith("/BetaPage")
    assert set(composed["paths"]) == {"/api/v1/a", "/api/v1/b"}
