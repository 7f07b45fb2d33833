"""The problems every operation can answer, written into the app's OpenAPI document.

FastAPI documents request validation failures as `application/json` HTTPValidationError, but the
services answer them (through problems.install_problem_handlers) as `application/problem+json`,
and answer a body that does not parse with a 400 problem it does not document at all. A contract
test against the document (Schemathesis' content-type and status-code conformance) rightly fails
on both; this makes the document say what the app does.
"""

from typing import Any

from fastapi import FastAPI

from reference_services.platform.problems import MEDIA_TYPE

PROBLEM_SCHEMA: dict[str, Any] = {
    "properties": {
        "type": {"type": "string", "title": "Type"},
        "title": {"type": "string", "title": "Title"},
        "status": {"type": "integer", "title": "Status"},
        "detail": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Detail"},
        "instance": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Instance"},
    },
    "type": "object",
    "required": ["type", "title", "status"],
    "title": "Problem",
}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {MEDIA_TYPE: {"schema": _PROBLEM_REF}}}


def document_problems(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with every 422 a problem, and a 400 problem wherever a body is read."""
    for item in document.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses: dict[str, Any] = operation["responses"]
            if "422" in responses:
                responses["422"] = _problem(responses["422"].get("description", "Invalid request"))
            if "requestBody" in operation and "400" not in responses:
                responses["400"] = _problem("The body is not valid JSON (`bad-request`)")
            operation["responses"] = dict(sorted(responses.items()))
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Problem", PROBLEM_SCHEMA)
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    document["components"]["schemas"] = dict(sorted(schemas.items()))
    return document


def with_documented_problems(app: FastAPI) -> FastAPI:
    """Make `app.openapi()` return the document with its problems (see document_problems)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
