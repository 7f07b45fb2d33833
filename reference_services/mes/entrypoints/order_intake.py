"""POST /orders answered without FastAPI's routing and dependency solving, when it can be.

The hottest write of the MES is a valid new order. This ASGI layer, just outside the router like
cached_reads.py, reads the body, and when it is JSON that `OrderCreate` accepts (and the headers
are ones the route would accept) runs the route's own `created_order`, turning the errors it
raises into responses with the app's exception handlers. Everything else (another media type, a
body the model refuses, a bad Idempotency-Key) goes to FastAPI with the body replayed, so the
route's validation and its problem+json explain what is wrong. It sits inside the telemetry
middleware: the request keeps its metrics (under the route's template), span and access log line.
"""

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reference_services.mes.entrypoints.routes.orders import created_order
from reference_services.mes.entrypoints.schemas import OrderCreate
from reference_services.platform.endpoints import json_write_headers, parse_plant_scope
from reference_services.platform.service_app import Resources

PATH = "/orders"
Handler = Callable[[Request, Any], Response | Awaitable[Response]]


class OrderIntake:
    def __init__(
        self, app: ASGIApp, service: FastAPI, resources: Resources, route: APIRoute
    ) -> None:
        self.app = app
        self.resources = resources
        self.route = route
        # What Starlette's ExceptionMiddleware would answer with (500s stay with the outer
        # ServerErrorMiddleware, as for the route). Read here: the app has all its handlers by
        # the time it builds its middleware, on its first request.
        self.handlers: Mapping[Any, Handler] = {
            key: handler
            for key, handler in service.exception_handlers.items()
            if key not in (500, Exception)
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        headers = json_write_headers(scope["headers"])
        if headers is None:
            await self.app(scope, receive, send)
            return
        idempotency_key, plants = headers
        try:
            messages, body = await _read_body(receive)
        except Exception as exc:  # the app's body size limit, as the route would meet it
            scope["route"] = self.route
            await (await self._handled(scope, receive, exc))(scope, receive, send)
            return
        order = _valid_order(body) if body is not None else None
        if order is None:
            await self.app(scope, _replaying(messages, receive), send)
            return
        scope["route"] = self.route
        try:
            response = await created_order(
                self.resources, order, idempotency_key, parse_plant_scope(plants)
            )
        except Exception as exc:
            response = await self._handled(scope, receive, exc)
        await response(scope, receive, send)

    async def _handled(self, scope: Scope, receive: Receive, exc: Exception) -> Response:
        """The response of the app's handler for `exc`; re-raises it when there is none."""
        for kind in type(exc).__mro__:
            if kind in self.handlers:
                handled = self.handlers[kind](Request(scope, receive), exc)
                return await handled if inspect.isawaitable(handled) else handled
        raise exc


async def _read_body(receive: Receive) -> tuple[list[Message], bytes | None]:
    """The messages received and the whole body (None if the client left before sending it)."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return messages, b"".join(chunks)


def _valid_order(body: bytes) -> OrderCreate | None:
    try:
        return OrderCreate.model_validate(orjson.loads(body))
    except (orjson.JSONDecodeError, ValidationError):
        return None


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


def serve_order_intake(app: FastAPI, resources: Resources, router: APIRouter) -> None:
    """Put the layer innermost among the app's middleware (inside telemetry), for the POST route
    of `router` it stands in for; call before the app serves its first request."""
    route = next(
        r
        for r in router.routes
        if isinstance(r, APIRoute) and r.path == PATH and "POST" in (r.methods or set())
    )
    app.user_middleware.append(
        Middleware(OrderIntake, service=app, resources=resources, route=route)
    )
