"""The public API under /api/v1: authenticate, route, authorise, rate-limit, forward.

A plain ASGI app (mounted at /api/v1) so that the per-request path stays lean: bodies are passed
through as bytes, never parsed (except an upstream's problem, whose `instance` becomes the public
path). Refusals raise Problem, which the app's handlers render as problem+json.

Upstream requests carry only what the upstream needs: Content-Type, Accept, Idempotency-Key,
If-Match, If-None-Match, X-Min-LSN, X-Preflight-Run, X-Request-ID (the telemetry middleware's, which
is the caller's or a new one), the W3C trace context, and X-Plant-Scope and X-User (the subject)
from the token (client-sent ones are dropped, like Authorization, hop-by-hop and any other
header). Responses pass
back Content-Type, X-Commit-LSN, Location (as a public path), Idempotent-Replayed, X-Cache,
Retry-After, ETag, Allow, X-Request-ID and traceresponse.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import orjson
from starlette.types import Receive, Scope, Send

from reference_services.gateway.adapters.rate_limiter import RateLimiter
from reference_services.gateway.adapters.upstreams import (
    IDEMPOTENT_METHODS,
    Upstream,
    UpstreamFailure,
)
from reference_services.gateway.domain.routes import PUBLIC_PREFIX, Table
from reference_services.gateway.domain.token_bucket import retry_after_header
from reference_services.gateway.entrypoints.authentication import TokenCache
from reference_services.gateway.metrics import GatewayMetrics
from reference_services.platform.auth import AUDIENCE, Identity, RateLimit, TokenError
from reference_services.platform.problems import MEDIA_TYPE, Problem
from reference_services.platform.telemetry import request_id_var

FORWARDED = frozenset(
    {
        b"content-type",
        b"accept",
        b"idempotency-key",
        b"if-match",
        b"if-none-match",
        b"x-min-lsn",
        b"x-preflight-run",
    }
)
PASSED_BACK = frozenset(
    {
        b"content-type",
        b"x-commit-lsn",
        b"idempotent-replayed",
        b"x-cache",
        b"retry-after",
        b"etag",
        b"allow",
        b"x-request-id",
        b"traceresponse",
    }
)
PROBLEM_MEDIA_TYPE = MEDIA_TYPE.encode()
CHALLENGE = f'Bearer realm="{AUDIENCE}"'
INVALID_TOKEN = f'{CHALLENGE}, error="invalid_token"'
_FAILURES = {
    "upstream-unavailable": (503, "Upstream unavailable", "is unavailable, retry later"),
    "upstream-timeout": (504, "Upstream timeout", "did not answer in time"),
    "bad-gateway": (502, "Bad gateway", "gave no valid answer"),
}


@dataclass(frozen=True)
class Limits:
    rate: RateLimit
    max_body_bytes: int


class Proxy:
    def __init__(
        self,
        *,
        table: Table,
        tokens: TokenCache,
        limiter: RateLimiter,
        upstreams: Mapping[str, Upstream],
        limits: Limits,
        metrics: GatewayMetrics,
    ) -> None:
        self.table = table
        self.tokens = tokens
        self.limiter = limiter
        self.upstreams = upstreams
        self.limits = limits
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        method: str = scope["method"]
        path: str = scope["path"][len(PUBLIC_PREFIX) :]
        authorization = content_length = None
        forwarded: list[tuple[bytes, bytes]] = []
        for name, value in scope["headers"]:
            if name in FORWARDED:
                forwarded.append((name, value))
            elif name == b"authorization":
                authorization = value
            elif name == b"content-length":
                content_length = value

        identity = self.authenticate(authorization)
        decision = self.table.decide(identity.roles, method, path)
        if decision is None:
            raise Problem(404, "not-found", "Not found", f"no route serves {PUBLIC_PREFIX}{path}")
        scope["route"] = decision
        route = decision.route
        scope.setdefault("state", {})["access_log"] = {
            "subject": identity.subject,
            "upstream": route.upstream,
        }
        if not decision.allowed:
            roles = ", ".join(sorted(identity.roles)) or "none"
            raise Problem(
                403, "forbidden", "Forbidden", f"roles ({roles}) may not {method} {decision.path}"
            )
        if not identity.plants:
            raise Problem(403, "forbidden", "Forbidden", "the token grants no plant")
        await self.rate_limit(identity)
        body = await self.read_body(receive, content_length)

        upstream = self.upstreams.get(route.upstream)
        if upstream is None:
            raise _failure(UpstreamFailure(route.upstream, "upstream-unavailable"))
        forwarded.append((b"x-plant-scope", identity.plant_scope.encode()))
        forwarded.append((b"x-user", identity.subject.encode()))
        forwarded.append((b"x-request-id", request_id_var.get().encode()))
        idempotent = method in IDEMPOTENT_METHODS or any(
            name == b"idempotency-key" for name, _ in forwarded
        )
        try:
            reply = await upstream.send(
                method,
                route.upstream_path(path),
                scope["query_string"],
                forwarded,
                body,
                idempotent=idempotent,
            )
        except UpstreamFailure as failure:
            raise _failure(failure) from None

        body = reply.body
        headers: list[tuple[bytes, bytes]] = []
        for name, value in reply.headers:
            lowered = name.lower()
            if lowered in PASSED_BACK:
                headers.append((lowered, value))
                if lowered == b"content-type" and value.startswith(PROBLEM_MEDIA_TYPE):
                    body = self.public_problem(route.upstream, body)
            elif lowered == b"location":
                public = self.table.public_location(route.upstream, value.decode("latin-1"))
                headers.append((b"location", public.encode("latin-1")))
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def public_problem(self, upstream: str, body: bytes) -> bytes:
        """An upstream's problem with its `instance` as the public path the caller used."""
        try:
            problem = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body
        instance = problem.get("instance") if isinstance(problem, dict) else None
        if not isinstance(instance, str):
            return body
        problem["instance"] = self.table.public_location(upstream, instance)
        return orjson.dumps(problem)

    def authenticate(self, authorization: bytes | None) -> Identity:
        scheme, _, token = (authorization or b"").decode("latin-1").partition(" ")
        if scheme.lower() != "bearer":
            raise Problem(
                401,
                "unauthorized",
                "Unauthorized",
                "a bearer token is required",
                headers={"WWW-Authenticate": CHALLENGE},
            )
        try:
            return self.tokens.identity(token.strip())
        except TokenError as exc:
            expired = str(exc) == "token expired"
            raise Problem(
                401,
                "unauthorized",
                "Unauthorized",
                "the token has expired" if expired else "the token is not valid",
                headers={"WWW-Authenticate": INVALID_TOKEN},
            ) from None

    async def rate_limit(self, identity: Identity) -> None:
        limit = identity.rate_limit or self.limits.rate
        allowance = await self.limiter.take(identity.subject, limit.per_second, limit.burst)
        if not allowance.allowed:
            self.metrics.rate_limited.inc()
            raise Problem(
                429,
                "rate-limited",
                "Too many requests",
                f"rate limit of {limit.per_second:g}/s (burst {limit.burst}) exceeded",
                headers={"Retry-After": retry_after_header(allowance.retry_after_s)},
            )

    async def read_body(self, receive: Receive, content_length: bytes | None) -> bytes:
        limit = self.limits.max_body_bytes
        if content_length is not None and content_length.isdigit() and int(content_length) > limit:
            raise _too_large(limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise Problem(400, "bad-request", "Bad request", "the client went away")
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _too_large(limit: int) -> Problem:
    return Problem(413, "payload-too-large", "Payload too large", f"the body exceeds {limit} bytes")


def _failure(failure: UpstreamFailure) -> Problem:
    status, title, what = _FAILURES[failure.kind]
    headers = (
        {"Retry-After": retry_after_header(failure.retry_after_s)}
        if failure.retry_after_s is not None
        else None
    )
    return Problem(
        status, failure.kind, title, f"upstream {failure.upstream} {what}", headers=headers
    )
