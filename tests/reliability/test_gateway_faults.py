"""The MES slowed, then resetting every connection, behind the gateway, under a stream of keyed
order writes through it: slow answers still arrive, the gateway retries the keyed writes (and
only requests that are safe to repeat), opens its breaker while the MES resets, closes it once
the MES answers again, and no acknowledged order is lost or written twice.

The gateway is one of the test's own (same code, the stack's Redis and signing key) reaching the
stack's MES through a fault proxy, so that its breaker and counters are the test's alone."""

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fixtures.mes import MesFactory, Plant
from preflight import processes, stack
from preflight.expect import expect_status
from preflight.faults import Fault, FaultProxy, Latency, ResetPeer
from preflight.ports import LOOPBACK, free_port
from preflight.report.fault_report import FaultReport, assert_nothing_lost
from preflight.targets import Target
from preflight.tokens import mint
from preflight.waits import wait_until
from preflight.write_load import WriteLoad
from reference_services.catalog import spec

pytestmark = [pytest.mark.destructive, pytest.mark.slow]

RETRIES = 2
OPEN, CLOSED = 2, 0
UPSTREAM_FAILED = (502, 503)  # a reset mid-answer is a bad gateway; a refused connect, unavailable


@pytest.fixture
def mes_proxy(target: Target) -> Iterator[FaultProxy]:
    mes = urlsplit(target.url("mes"))
    assert mes.hostname is not None
    assert mes.port is not None
    with FaultProxy((mes.hostname, mes.port), seed=11) as proxy:
        yield proxy


@pytest.fixture
def own_gateway(target: Target, mes_proxy: FaultProxy, tmp_path: Path) -> Iterator[str]:
    if "gateway" not in target.services or not target.signing_key or not target.redis_url:
        pytest.skip("needs the stack's gateway, its signing key and its Redis")
    port = free_port()
    env = os.environ | {
        "PYTHONUNBUFFERED": "1",
        "GATEWAY_MES_URL": mes_proxy.url,
        "GATEWAY_REDIS_URL": target.redis_url,
        "GATEWAY_JWT_SECRET": target.signing_key,
        "GATEWAY_BREAKER_THRESHOLD": "5",
        "GATEWAY_BREAKER_COOLDOWN_S": "1",
        "GATEWAY_RETRIES": str(RETRIES),
        "GATEWAY_READ_TIMEOUT_S": "2",
        "GATEWAY_RATE_LIMIT_PER_SECOND": "1000",
        "GATEWAY_RATE_LIMIT_BURST": "2000",
    }
    child = processes.spawn(
        stack.uvicorn_command(spec("gateway"), port),
        log=tmp_path / "gateway.log",
        env=env,
        cwd=stack.project_root(),
    )
    url = f"http://{LOOPBACK}:{port}"
    try:
        wait_until(
            lambda: httpx.get(f"{url}/health/live", timeout=1).status_code == 200,
            timeout=60,
            description="the test's own gateway to listen",
            ignored_exceptions=(httpx.HTTPError,),
        )
        yield url
    finally:
        processes.end_processes([(psutil.Process(child.pid), (signal.SIGTERM,))], grace=5)


def metric(gateway: str, name: str, **labels: str) -> float:
    text = httpx.get(f"{gateway}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                return float(sample.value)
    return 0.0


def breaker(gateway: str) -> float:
    return metric(gateway, "gateway_circuit_breaker_state", upstream="mes")


def retries(gateway: str) -> float:
    return metric(gateway, "gateway_upstream_retries_total", upstream="mes")


def test_a_slow_then_resetting_mes_behind_the_gateway_loses_no_order(
    target: Target,
    own_gateway: str,
    mes_proxy: FaultProxy,
    order_load: Callable[..., WriteLoad],
    fault_report: FaultReport,
    mes_factory: MesFactory,
    mes_db: str,
    plant: Plant,
) -> None:
    token = mint(target, "planner", plant.code)
    auth = {"Authorization": f"Bearer {token}"}
    load = order_load(f"{own_gateway}/api/v1/orders", headers=auth, duration_s=9)
    with load.running():
        load.wait_for_acknowledged(100)
        with mes_proxy.toxic(Latency(0.3, jitter_s=0.1)):
            slowed_from = load.acknowledged()
            load.wait_for_acknowledged(slowed_from + 50)  # slow, but answered
        with mes_proxy.toxic(ResetPeer()):
            reset = Fault("MES resetting every connection behind the gateway")
            wait_until(
                lambda: breaker(own_gateway) == OPEN,
                timeout=15,
                description="the gateway to open its breaker",
            )
            retried_while_reset = retries(own_gateway)
        reset.heal()
        wait_until(
            lambda: breaker(own_gateway) == CLOSED,
            timeout=30,
            description="the gateway to close its breaker once the MES answers",
        )
    verdict, run = fault_report.check(
        load,
        reset,
        mes_db=mes_db,
        plant=plant.code,
        notes=f"breaker opened and closed; {retried_while_reset:g} keyed writes retried",
    )
    assert_nothing_lost(verdict, run)
    assert retried_while_reset > 0

    # Only what is safe to repeat is retried: an unkeyed write once, a keyed one RETRIES times.
    with mes_proxy.toxic(ResetPeer()), httpx.Client(base_url=own_gateway, headers=auth) as api:
        before = retries(own_gateway)
        unkeyed = api.post("/api/v1/orders", json=mes_factory.build_order(plant))
        assert unkeyed.status_code in UPSTREAM_FAILED, unkeyed.text
        assert retries(own_gateway) == before
        keyed = api.post(
            "/api/v1/orders",
            json=mes_factory.build_order(plant),
            headers={"Idempotency-Key": f"{plant.code}-keyed"},
        )
        assert keyed.status_code in UPSTREAM_FAILED, keyed.text
        assert retries(own_gateway) == before + RETRIES
    with httpx.Client(base_url=own_gateway, headers=auth) as api:
        wait_until(
            lambda: api.get("/api/v1/orders", params={"plant": plant.code}).status_code == 200,
            timeout=30,
            description="the gateway to serve the MES again",
        )
        expect_status(api.get("/api/v1/orders", params={"plant": plant.code}), 200)
