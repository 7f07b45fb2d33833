"""Where a public path goes (the route table) and who may call it (the policy table).

Paths here are public paths below PUBLIC_PREFIX, such as "/orders/3f2a/start". A pattern segment
`{name}` matches one segment, and a final `**` any number of segments (none included).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

PUBLIC_PREFIX = "/api/v1"
ANY_METHOD = "*"

ORDER_ACTIONS = ("release", "start", "complete", "hold", "resume", "cancel")
OPERATION_ACTIONS = ("start", "complete")


@dataclass(frozen=True)
class Route:
    """Public paths under `prefix` go to `upstream`, with `prefix` rewritten to `rewrite`."""

    prefix: str
    upstream: str
    rewrite: str

    def upstream_path(self, path: str) -> str:
        return self.rewrite + path[len(self.prefix) :]

    def public_path(self, upstream_path: str) -> str | None:
        """The public path of an upstream path this route serves (for Location), else None."""
        rest = upstream_path[len(self.rewrite) :]
        if upstream_path.startswith(self.rewrite) and (not rest or rest[0] in "/?"):
            return PUBLIC_PREFIX + self.prefix + rest
        return None


ROUTES: tuple[Route, ...] = (
    Route("/orders", "mes", "/orders"),
    Route("/products", "mes", "/products"),
    Route("/work-centers", "mes", "/work-centers"),
    Route("/operators", "mes", "/operators"),
    Route("/customers", "crm", "/customers"),
    Route("/sales-orders", "crm", "/sales-orders"),
    Route("/reports", "reporting", "/reports"),
    Route("/webhooks", "notification", "/webhooks"),
    Route("/feed", "notification", "/feed"),
)

_READ_PLANT = ("GET /products", "GET /products/{plant}/{sku}", "GET /work-centers")

POLICY: Mapping[str, tuple[str, ...]] = {
    "admin": ("* /**",),
    "planner": (
        "GET /orders",
        "GET /orders/{id}",
        "POST /orders",
        "PATCH /orders/{id}",
        *(f"POST /orders/{{id}}/{action}" for action in ORDER_ACTIONS),
        *(f"POST /orders/{{id}}/operations/{{seq}}/{action}" for action in OPERATION_ACTIONS),
        *_READ_PLANT,
        "POST /products",
        "POST /work-centers",
        "GET /operators",
        "GET /operators/{id}",
        "POST /operators",
        "GET /customers/**",
        "GET /sales-orders/**",
        "GET /reports/**",
        "GET /feed",
        "POST /feed/{number}/read",
    ),
    "operator": (
        "GET /orders",
        "GET /orders/{id}",
        "POST /orders/{id}/start",
        "POST /orders/{id}/complete",
        *(f"POST /orders/{{id}}/operations/{{seq}}/{action}" for action in OPERATION_ACTIONS),
        *_READ_PLANT,
    ),
    "crm-integration": (
        "GET /orders",
        "GET /orders/{id}",
        "POST /orders",
        "GET /products",
        "GET /products/{plant}/{sku}",
        "* /customers/**",
        "* /sales-orders/**",
    ),
}


class BadPath(ValueError):
    """The path has empty or dot segments: never forwarded."""


def segments(path: str) -> tuple[str, ...]:
    parts = tuple(path.split("/")[1:]) if path.startswith("/") else ()
    if not parts or any(part in ("", ".", "..") for part in parts):
        raise BadPath(path)
    return parts


@dataclass(frozen=True)
class Rule:
    """One (method, pattern) of the policy and the roles it is granted to."""

    method: str
    pattern: tuple[str, ...]
    roles: frozenset[str]

    @property
    def wildcard(self) -> bool:
        return self.pattern[-1:] == ("**",)

    @property
    def path(self) -> str:
        """The public route template (what the access log and metrics call the route)."""
        return PUBLIC_PREFIX + "/" + "/".join(self.pattern)

    def matches(self, method: str, parts: tuple[str, ...]) -> bool:
        if self.method != ANY_METHOD and self.method != method:
            return False
        pattern = self.pattern
        for index, expected in enumerate(pattern):
            if expected == "**":
                return True
            if index >= len(parts):
                return False
            if expected[0] != "{" and expected != parts[index]:
                return False
        return len(pattern) == len(parts)


@dataclass(frozen=True)
class Decision:
    route: Route
    allowed: bool
    template: str

    @property
    def path(self) -> str:
        return self.template


class Table:
    """The route and policy tables, indexed for the per-request lookup."""

    def __init__(
        self, routes: Iterable[Route] = ROUTES, policy: Mapping[str, Iterable[str]] = POLICY
    ) -> None:
        self.routes = tuple(routes)
        self._by_first = {segments(route.prefix)[0]: route for route in self.routes}
        grants: dict[tuple[str, tuple[str, ...]], set[str]] = {}
        for role, entries in policy.items():
            for entry in entries:
                method, _, pattern = entry.partition(" ")
                grants.setdefault((method, _pattern(pattern)), set()).add(role)
        rules = [
            Rule(method, pattern, frozenset(roles)) for (method, pattern), roles in grants.items()
        ]
        # Specific rules first so that the first match names the route template.
        self.rules = tuple(sorted(rules, key=lambda rule: rule.wildcard))

    def route(self, path: str) -> Route | None:
        try:
            return self._route(path, segments(path))
        except BadPath:
            return None

    def _route(self, path: str, parts: tuple[str, ...]) -> Route | None:
        route = self._by_first.get(parts[0])
        if route is None or (path != route.prefix and not path.startswith(route.prefix + "/")):
            return None
        return route

    def decide(self, roles: frozenset[str], method: str, path: str) -> Decision | None:
        """None when no route serves the path; else whether any of `roles` may call it."""
        try:
            parts = segments(path)
        except BadPath:
            return None
        route = self._route(path, parts)
        if route is None:
            return None
        template: str | None = None
        allowed = False
        for rule in self.rules:
            if not rule.matches(method, parts):
                continue
            if template is None and not rule.wildcard:
                template = rule.path
            if not allowed and not rule.roles.isdisjoint(roles):
                allowed = True
            if allowed and (template is not None or rule.wildcard):
                break
        return Decision(route, allowed, template or f"{PUBLIC_PREFIX}{route.prefix}/**")

    def public_location(self, upstream: str, location: str) -> str:
        """An upstream's Location path as the public path (unchanged if no route serves it)."""
        for route in self.routes:
            if route.upstream == upstream:
                public = route.public_path(location)
                if public is not None:
                    return public
        return location


def _pattern(text: str) -> tuple[str, ...]:
    parts = tuple(text.split("/")[1:])
    if not parts or "" in parts or "**" in parts[:-1]:
        raise ValueError(f"bad policy pattern {text!r}")
    return parts
