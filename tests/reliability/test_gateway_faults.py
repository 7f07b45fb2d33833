"""The MES slowed, then resetting every connection, behind the gateway, under a stream of keyed
order writes through it: slow answers still arrive, the gateway retries the keyed writes (and
only requests that are safe to repeat), opens its breaker while the MES resets, closes it once
the MES answers again, and no acknowledged order is lost or written twice.

The gateway is one of the test's own (same code, the stack's Redis and signing key) reaching the
stack's MES through a fault proxy, so that its breaker and counters are the test's alone."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.gateway import breaker_state, own_gateway, upstream_retries
from fixtures.mes import MesFactory, Plant
from preflight.expect import expect_status
from preflight.faults import FaultProxy, Latency, ResetPeer, path_faulted
from preflight.report.fault_report import UnderLoad
from preflight.targets import Target
from preflight.tokens import mint
from preflight.waits import wait_until

pytestmark = [pytest.mark.destructive, pytest.mark.slow]

RETRIES = 2
OPEN, CLOSED = 2, 0
UPSTREAM_FAILED = (502, 503)  # a reset mid-answer is a bad gateway; a refused connect, unavailable


@pytest.fixture
def gateway(target: Target, mes_proxy: FaultProxy, tmp_path: Path) -> Iterator[str]:
    settings = {
        "GATEWAY_BREAKER_THRESHOLD": "5",
        "GATEWAY_BREAKER_COOLDOWN_S": "1",
        "GATEWAY_RETRIES": str(RETRIES),
        "GATEWAY_READ_TIMEOUT_S": "2",
        "GATEWAY_RATE_LIMIT_PER_SECOND": "1000",
        "GATEWAY_RATE_LIMIT_BURST": "2000",
    }
    with own_gateway(target, mes_proxy.url, tmp_path, settings) as url:
        yield url


def test_a_slow_then_resetting_mes_behind_the_gateway_loses_no_order(
    target: Target,
    gateway: str,
    mes_proxy: FaultProxy,
    under_load: UnderLoad,
    mes_factory: MesFactory,
    plant: Plant,
) -> None:
    token = mint(target, "planner", plant.code)
    auth = {"Authorization": f"Bearer {token}"}
    with under_load(f"{gateway}/api/v1/orders", headers=auth, duration_s=9) as run:
        with mes_proxy.toxic(Latency(0.3, jitter_s=0.1)):
            slowed_from = run.load.acknowledged()
            run.load.wait_for_acknowledged(slowed_from + 50)  # slow, but answered
        reset = path_faulted(mes_proxy, ResetPeer(), "MES resetting every connection")
        with run.injected(reset):
            wait_until(
                lambda: breaker_state(gateway) == OPEN,
                timeout=15,
                description="the gateway to open its breaker",
            )
            retried_while_reset = upstream_retries(gateway)
        wait_until(
            lambda: breaker_state(gateway) == CLOSED,
            timeout=30,
            description="the gateway to close its breaker once the MES answers",
        )
        run.notes = f"breaker opened and closed; {retried_while_reset:g} keyed writes retried"
    assert retried_while_reset > 0

    # Only what is safe to repeat is retried: an unkeyed write once, a keyed one RETRIES times.
    with mes_proxy.toxic(ResetPeer()), httpx.Client(base_url=gateway, headers=auth) as api:
        before = upstream_retries(gateway)
        unkeyed = api.post("/api/v1/orders", json=mes_factory.build_order(plant))
        assert unkeyed.status_code in UPSTREAM_FAILED, unkeyed.text
        assert upstream_retries(gateway) == before
        keyed = api.post(
            "/api/v1/orders",
            json=mes_factory.build_order(plant),
            headers={"Idempotency-Key": f"{plant.code}-keyed"},
        )
        assert keyed.status_code in UPSTREAM_FAILED, keyed.text
        assert upstream_retries(gateway) == before + RETRIES
    with httpx.Client(base_url=gateway, headers=auth) as api:
        wait_until(
            lambda: api.get("/api/v1/orders", params={"plant": plant.code}).status_code == 200,
            timeout=30,
            description="the gateway to serve the MES again",
        )
        expect_status(api.get("/api/v1/orders", params={"plant": plant.code}), 200)
