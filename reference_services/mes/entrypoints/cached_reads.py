"""GET /orders/{order_id} answered from the cache without FastAPI's routing, when it can be.

The hottest read of the MES is a cache hit: an ASGI layer just outside the router serves it (same
body and headers as the route: `application/json`, `X-Cache: hit`) and hands everything else to
the app: misses, an id or header the route would refuse, an order outside the caller's plants
(the route answers those with its problem+json). It sits inside the telemetry middleware, so the
request still gets its metrics (under the route's template), span and access log line.
"""

import re
import uuid

import orjson
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from reference_services.platform.cache import VersionedCache
from reference_services.platform.db import parse_lsn
from reference_services.platform.endpoints import parse_plant_scope

ORDER_PATH = re.compile(r"/orders/([0-9A-Fa-f-]{32,36})")
ROUTE = "/orders/{order_id}"
_HIT_HEADERS = [(b"content-type", b"application/json"), (b"x-cache", b"hit")]


class CachedOrderReads:
    def __init__(self, app: ASGIApp, cache: VersionedCache, route: APIRoute) -> None:
        self.app = app
        self.cache = cache
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            found = ORDER_PATH.fullmatch(scope["path"])
            body = await self.cached(scope, found.group(1)) if found else None
            if body is not None:
                scope["route"] = self.route
                headers = [*_HIT_HEADERS, (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    async def cached(self, scope: Scope, raw_id: str) -> bytes | None:
        min_lsn = plants = None
        for name, value in scope["headers"]:
            if name == b"x-min-lsn":
                min_lsn = value.decode("latin-1")
            elif name == b"x-plant-scope":
                plants = value.decode("latin-1")
        try:
            order_id = uuid.UUID(raw_id)
            lsn = parse_lsn(min_lsn) if min_lsn is not None else None
        except ValueError:
            return None  # the route explains what is wrong
        body = await self.cache.get(f"order:{order_id}", lsn)
        scope_plants = parse_plant_scope(plants)
        if body is None or (scope_plants is not None and _plant(body) not in scope_plants):
            return None
        return body


def _plant(body: bytes) -> str | None:
    plant = orjson.loads(body).get("plant")
    return plant if isinstance(plant, str) else None


def serve_cached_order_reads(app: FastAPI, cache: VersionedCache, router: APIRouter) -> None:
    """Put the layer innermost among the app's middleware (inside telemetry), for the GET route
    of `router` it stands in for; call before the app serves its first request."""
    route = next(
        r
        for r in router.routes
        if isinstance(r, APIRoute) and r.path == ROUTE and "GET" in (r.methods or set())
    )
    app.user_middleware.append(Middleware(CachedOrderReads, cache=cache, route=route))
