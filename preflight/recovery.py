"""After a test that broke part of a stack Preflight runs: wait until the stack serves again,
before any other test meets what is left of the fault.

A destructive test puts back what it broke, but parts of the stack heal on their own time: a
restarted service becomes ready, a crashed primary finishes its recovery, a replica reconnects.
And the gateway's circuit breaker to an upstream that failed stays open for its cool-down, then
lets a single trial through: the tests that follow would get 503 upstream-unavailable. So the
stack is settled when every health check of `preflight.health` passes and every breaker of the
gateway is closed. While a breaker is not, the check sends the trial itself (a read of that
upstream through the gateway, with an admin token), so it closes without waiting for traffic.

    problems = wait_until_settled(target, timeout_s=60)  # [] once settled
"""

from __future__ import annotations

import contextlib
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from preflight.health import check_target
from preflight.targets import Target
from preflight.tokens import mint
from reference_services.gateway.domain.routes import PUBLIC_PREFIX, ROUTES

BREAKER_METRIC = "gateway_circuit_breaker_state"
_STATES = {0: "closed", 1: "half-open", 2: "open"}


def probe_paths() -> dict[str, str]:
    """A public path of each upstream, read to move its breaker: its first route's prefix."""
    paths: dict[str, str] = {}
    for route in ROUTES:
        paths.setdefault(route.upstream, f"{PUBLIC_PREFIX}{route.prefix}")
    return paths


def breaker_states(client: httpx.Client, gateway_url: str) -> dict[str, int]:
    """The gateway's breaker of each upstream (0 closed, 1 half-open, 2 open), from /metrics."""
    text = client.get(f"{gateway_url}/metrics").text
    return {
        sample.labels["upstream"]: int(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == BREAKER_METRIC and "upstream" in sample.labels
    }


def unsettled(target: Target, client: httpx.Client, token: str | None) -> list[str]:
    """What keeps the stack from serving, one line each (empty when settled). Sends the trial
    of every gateway breaker that is not closed."""
    report = check_target(target)
    if not report.healthy:
        return [f"{check.name}: {check.detail}" for check in report.failures]
    if "gateway" not in target.services or token is None:
        return []
    gateway_url = target.url("gateway").rstrip("/")
    try:
        states = breaker_states(client, gateway_url)
    except httpx.HTTPError as error:
        return [f"gateway /metrics: {error!r}"]
    problems = []
    paths = probe_paths()
    for upstream, state in sorted(states.items()):
        if state == 0 or upstream not in paths:
            continue
        # The trial, once the cool-down is over: any answer below 500 closes the breaker.
        with contextlib.suppress(httpx.HTTPError):
            client.get(
                f"{gateway_url}{paths[upstream]}",
                params={"limit": 1},
                headers={"Authorization": f"Bearer {token}"},
            )
        problems.append(f"gateway breaker to {upstream}: {_STATES.get(state, state)}")
    return problems


def wait_until_settled(
    target: Target, *, timeout_s: float = 60.0, interval_s: float = 0.5
) -> list[str]:
    """Wait until the stack is settled; returns what was still wrong at the deadline (empty
    once settled)."""
    token = mint(target, "admin") if target.signing_key else None
    deadline = time.monotonic() + timeout_s
    with httpx.Client(headers=dict(target.headers), timeout=5.0) as client:
        while True:
            problems = unsettled(target, client, token)
            if not problems or time.monotonic() >= deadline:
                return problems
            time.sleep(interval_s)
