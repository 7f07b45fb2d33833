"""Assertions on HTTP responses that name what a user would see when they fail."""

from typing import Any

import httpx

PROBLEM_BASE = "https://preflight.dev/problems/"
INTERNALS = ("traceback", "sqlalchemy", "asyncpg", "psycopg")


def _show(response: httpx.Response) -> str:
    request = response.request
    return f"{request.method} {request.url.path} -> {response.status_code}: {response.text[:500]}"


def expect_status(response: httpx.Response, status: int) -> Any:
    """The response has this status; returns its JSON body (None when empty)."""
    assert response.status_code == status, f"expected {status}, got {_show(response)}"
    return response.json() if response.content else None


def expect_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem of this status and stable type, leaking no internals."""
    assert response.status_code == status, f"expected {status} {slug}, got {_show(response)}"
    media_type = response.headers.get("content-type", "").split(";")[0]
    assert media_type == "application/problem+json", f"not problem+json: {_show(response)}"
    body: dict[str, Any] = response.json()
    assert body.get("type") == PROBLEM_BASE + slug, f"expected type {slug}, got {_show(response)}"
    assert body.get("status") == status, _show(response)
    assert body.get("title"), _show(response)
    text = response.text.lower()
    for leak in INTERNALS:
        assert leak not in text, f"internals leak into the error: {_show(response)}"
    return body
