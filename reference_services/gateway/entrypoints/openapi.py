"""The public API document: the upstreams' own OpenAPI documents, as the gateway serves them.

Every upstream path a route serves appears under /api/v1 with the route's rewrite undone; the
X-Plant-Scope and X-User headers (the gateway sets them from the token) are removed; bearer auth
applies to every operation, and each documents the gateway's own problem responses. Schemas of the
same name in two upstreams stay shared when equal, else are prefixed with the upstream's name.
"""

import contextlib
import copy
import importlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from reference_services.catalog import SERVICES
from reference_services.gateway.domain.routes import PUBLIC_PREFIX, Route

HIDDEN_HEADERS = frozenset({"x-plant-scope", "x-user"})
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
PROBLEM_SCHEMA = "GatewayProblem"
SCHEMA_REF = "#/components/schemas/"

_PROBLEM = {"$ref": SCHEMA_REF + PROBLEM_SCHEMA}
_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
}
GATEWAY_RESPONSES: dict[str, dict[str, Any]] = {
    "401": {
        "description": "Missing, malformed, forged or expired bearer token (`unauthorized`)",
        "headers": {
            "WWW-Authenticate": {"description": "Bearer challenge", "schema": {"type": "string"}}
        },
    },
    "403": {"description": "None of the token's roles may call this operation (`forbidden`)"},
    "429": {
        "description": "The caller's rate limit is exhausted (`rate-limited`)",
        "headers": _RETRY_AFTER,
    },
    "502": {"description": "The upstream service answered badly (`bad-gateway`)"},
    "503": {
        "description": "The upstream service is unavailable or its circuit is open "
        "(`upstream-unavailable`)",
        "headers": _RETRY_AFTER,
    },
    "504": {"description": "The upstream service did not answer in time (`upstream-timeout`)"},
}
BODY_RESPONSES: dict[str, dict[str, Any]] = {
    "413": {"description": "The request body exceeds the gateway's limit (`payload-too-large`)"}
}
PROBLEM_COMPONENT: dict[str, Any] = {
    "type": "object",
    "title": PROBLEM_SCHEMA,
    "description": "RFC 9457 problem details; `type` is https://preflight.dev/problems/<slug>",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
}
DESCRIPTION = (
    "The plant's public API: production orders, products, work centers and operators (MES), "
    "customers and sales orders (CRM). Every call needs a bearer token (JWT) of the roles "
    "operator, planner, crm-integration or admin; its `plants` claim limits the data it sees. "
    "Errors are RFC 9457 problem details."
)


def upstream_documents(names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The OpenAPI documents of the upstream services this codebase has, by name."""
    found: dict[str, dict[str, Any]] = {}
    apps = {service.name: service.app for service in SERVICES}
    for name in dict.fromkeys(names):
        module_name, _, factory = apps.get(name, _conventional_app(name)).partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                continue  # this upstream has no implementation here (yet)
            raise
        with _logging_kept():
            found[name] = getattr(module, factory)().openapi()
    return found


def public_document(
    routes: Sequence[Route], upstreams: Mapping[str, dict[str, Any]], *, version: str
) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for name, document in upstreams.items():
        served = [route for route in routes if route.upstream == name]
        if not served:
            continue
        document = _with_unique_schemas(name, document, schemas)
        for path, item in document.get("paths", {}).items():
            route = next((r for r in served if r.public_path(path) is not None), None)
            if route is not None:
                paths[PUBLIC_PREFIX + route.prefix + path[len(route.rewrite) :]] = _operations(
                    name, item
                )
    schemas[PROBLEM_SCHEMA] = PROBLEM_COMPONENT
    return {
        "openapi": "3.1.0",
        "info": {"title": "Preflight plant API", "version": version, "description": DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
        "security": [{"bearerAuth": []}],
    }


def _operations(upstream: str, item: Mapping[str, Any]) -> dict[str, Any]:
    public: dict[str, Any] = {}
    for method, operation in item.items():
        if method not in HTTP_METHODS:
            public[method] = operation
            continue
        operation = dict(operation)
        if "operationId" in operation:
            operation["operationId"] = f"{upstream}_{operation['operationId']}"
        parameters = [
            p
            for p in operation.get("parameters", [])
            if not (p.get("in") == "header" and str(p.get("name", "")).lower() in HIDDEN_HEADERS)
        ]
        if parameters:
            operation["parameters"] = parameters
        else:
            operation.pop("parameters", None)
        added = GATEWAY_RESPONSES | (BODY_RESPONSES if "requestBody" in operation else {})
        responses = {
            status: _links_prefixed(upstream, response)
            for status, response in operation.get("responses", {}).items()
        }
        for status, response in added.items():
            problem = {"content": {"application/problem+json": {"schema": _PROBLEM}}}
            responses.setdefault(status, copy.deepcopy(response | problem))
        operation["responses"] = dict(sorted(responses.items()))
        public[method] = operation
    return public


def _links_prefixed(upstream: str, response: Mapping[str, Any]) -> dict[str, Any]:
    """The response with its links naming operations by their public operationId."""
    if "links" not in response:
        return dict(response)
    links = {
        name: {**link, "operationId": f"{upstream}_{link['operationId']}"}
        if "operationId" in link
        else link
        for name, link in response["links"].items()
    }
    return {**response, "links": links}


def _with_unique_schemas(
    upstream: str, document: dict[str, Any], schemas: dict[str, Any]
) -> dict[str, Any]:
    """Add the document's schemas to `schemas`, renaming those that clash with a different one
    already there; returns the document with its references renamed to match."""
    own: dict[str, Any] = document.get("components", {}).get("schemas", {})
    renamed = (
        {PROBLEM_SCHEMA: upstream.capitalize() + PROBLEM_SCHEMA} if PROBLEM_SCHEMA in own else {}
    )
    while True:  # renaming one schema changes those referring to it: repeat until stable
        clashing = {
            name: upstream.capitalize() + name
            for name, schema in own.items()
            if name not in renamed
            and name in schemas
            and schemas[name] != _renamed(schema, renamed)
        }
        if not clashing:
            break
        renamed |= clashing
    for name, schema in own.items():
        schemas[renamed.get(name, name)] = _renamed(schema, renamed)
    renamed_document: dict[str, Any] = _renamed(document, renamed)
    return renamed_document


def _renamed(node: Any, renamed: Mapping[str, str]) -> Any:
    if not renamed:
        return node
    if isinstance(node, dict):
        out = {key: _renamed(value, renamed) for key, value in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith(SCHEMA_REF):
            name = ref[len(SCHEMA_REF) :]
            out["$ref"] = SCHEMA_REF + renamed.get(name, name)
        return out
    if isinstance(node, list):
        return [_renamed(item, renamed) for item in node]
    return node


def _conventional_app(name: str) -> str:
    return f"reference_services.{name}.entrypoints.app:app_factory"


@contextlib.contextmanager
def _logging_kept() -> Iterator[None]:
    """Building an upstream's app configures logging for that service: undo it afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
