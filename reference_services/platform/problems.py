"""RFC 9457 problem details: one exception type, stable `type` URIs, and the app's handlers."""

from collections.abc import Mapping, Sequence
from typing import Any

from asyncpg import ConnectionDoesNotExistError, PostgresError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Match

PROBLEM_BASE = "https://preflight.dev/problems/"
MEDIA_TYPE = "application/problem+json"

_TITLES_BY_STATUS = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    412: ("precondition-failed", "Precondition failed"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("validation-error", "Request validation failed"),
    429: ("rate-limited", "Too many requests"),
    503: ("service-unavailable", "Service unavailable"),
}


class Problem(Exception):
    """An error the API reports to its client as problem+json."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = extensions

    @property
    def type(self) -> str:
        return PROBLEM_BASE + self.slug


def problem_response(problem: Problem, instance: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": problem.type, "title": problem.title, "status": problem.status}
    if problem.detail:
        body["detail"] = problem.detail
    if instance:
        body["instance"] = instance
    body.update(problem.extensions)
    return JSONResponse(
        body, status_code=problem.status, media_type=MEDIA_TYPE, headers=problem.headers
    )


def not_found(what: str) -> Problem:
    return Problem(404, "not-found", "Not found", f"{what} does not exist")


def _validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in errors
    ]


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return problem_response(exc, request.url.path)


async def _on_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc.errors())
    fields = ", ".join(".".join(e["loc"]) for e in errors[:5])
    problem = Problem(
        422, "validation-error", "Request validation failed", f"invalid: {fields}", errors=errors
    )
    return problem_response(problem, request.url.path)


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at the request's path. Starlette's 405 lists only those
    of the first route matching the path, though GET and PATCH of one path are two routes."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        served = getattr(route, "methods", None)
        if served and route.matches(request.scope)[0] != Match.NONE:
            methods |= served
    return ", ".join(sorted(methods))


async def _on_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    slug, title = _TITLES_BY_STATUS.get(exc.status_code, ("http-error", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    problem = Problem(exc.status_code, slug, title, detail, headers=headers)
    return problem_response(problem, request.url.path)


UNSTORABLE_TEXT = frozenset({"22021", "22P05"})
"""SQLSTATEs of text PostgreSQL cannot hold (a NUL character, bytes invalid in UTF-8)."""


def _sqlstate(exc: BaseException | None) -> str | None:
    """The SQLSTATE of a driver error, through SQLAlchemy's wrapping (orig, __cause__)."""
    seen = 0
    while exc is not None and seen < 5:
        state = getattr(exc, "sqlstate", None)
        if isinstance(state, str):
            return state
        exc = getattr(exc, "orig", None) or exc.__cause__
        seen += 1
    return None


UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})
"""Admin shutdown, crash shutdown, cannot connect now (starting up, recovering), too many
connections; with every connection exception (class 08): the database is not there, for now."""
RETRY_AFTER_S = "1"
UNREACHABLE = (ConnectionError, TimeoutError, ConnectionDoesNotExistError, PoolTimeout)
"""Refused, reset or timed out, a connection lost in the middle of a statement, no pooled
connection in time. A bare OSError also counts: asyncio raises one when connecting to every
address of a name failed."""


def database_unavailable(exc: BaseException | None) -> bool:
    """Whether the error says the database cannot be reached now (not that the request or the
    code is wrong), through SQLAlchemy's wrapping and the chain of causes."""
    seen = 0
    while exc is not None and seen < 6:
        if isinstance(exc, UNREACHABLE) or type(exc) is OSError:
            return True
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return True
        state = getattr(exc, "sqlstate", None)
        if isinstance(state, str) and (state.startswith("08") or state in UNAVAILABLE_SQLSTATES):
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
        seen += 1
    return False


def unavailable(request: Request) -> Response:
    """503 with a stable type and Retry-After: the client may retry (with its Idempotency-Key)."""
    problem = Problem(
        503,
        "service-unavailable",
        "Service unavailable",
        "the service cannot reach its database; retry later",
        headers={"Retry-After": RETRY_AFTER_S},
    )
    return problem_response(problem, request.url.path)


async def _on_database_error(request: Request, exc: Exception) -> Response:
    """A database that cannot be reached is a 503 the client may retry; input the database
    cannot store is the client's error (422), not the server's: a NUL in a query parameter or a
    JSON string passes every schema, and only PostgreSQL refuses it."""
    if database_unavailable(exc):
        return unavailable(request)
    if _sqlstate(exc) not in UNSTORABLE_TEXT:
        raise exc  # a server error: the catch-all handler answers 500 and it is logged
    problem = Problem(
        422,
        "validation-error",
        "Request validation failed",
        "text may not contain NUL characters or invalid UTF-8",
    )
    return problem_response(problem, request.url.path)


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    if database_unavailable(exc):  # wrapped on its way out (an exception group, say)
        return unavailable(request)
    problem = Problem(500, "internal-error", "Internal server error", "the error was logged")
    return problem_response(problem, request.url.path)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(DBAPIError, _on_database_error)
    app.add_exception_handler(PostgresError, _on_database_error)
    for unreachable in (*UNREACHABLE, OSError):
        app.add_exception_handler(unreachable, _on_database_error)
    app.add_exception_handler(Exception, _on_unexpected)
