"""The MES goes away and comes back: the gateway retries only what is safe to repeat, opens its
circuit breaker, answers fast while it is open, and closes it once the MES answers again.

The exact counts are checked on a gateway of the test's own (same code, the stack's MES and Redis,
a short cool-down), so that other callers of the stack's gateway, such as the CRM's poller, cannot
move its breaker; the stack's own gateway is then checked to recover as well.
"""

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fixtures.mes import MesFactory, Plant
from preflight import processes, stack
from preflight.clients.gateway import GatewayCallers, GatewayClient
from preflight.expect import expect_problem, expect_status
from preflight.ports import LOOPBACK, free_port
from preflight.targets import Target
from preflight.tokens import mint
from preflight.waits import wait_until
from reference_services.catalog import spec

pytestmark = [pytest.mark.destructive, pytest.mark.slow]

THRESHOLD = 7  # the failed attempts of the three requests below
RETRIES = 2
COOLDOWN_S = 1.0


@pytest.fixture
def own_gateway(target: Target, tmp_path: Path) -> Iterator[str]:
    if "gateway" not in target.services or not target.signing_key or not target.redis_url:
        pytest.skip("needs the stack's gateway, its signing key and its Redis")
    port = free_port()
    env = os.environ | {
        "PYTHONUNBUFFERED": "1",
        "GATEWAY_MES_URL": target.url("mes"),
        "GATEWAY_REDIS_URL": target.redis_url,
        "GATEWAY_JWT_SECRET": target.signing_key,
        "GATEWAY_BREAKER_THRESHOLD": str(THRESHOLD),
        "GATEWAY_BREAKER_COOLDOWN_S": str(COOLDOWN_S),
        "GATEWAY_RETRIES": str(RETRIES),
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


def metric(client: GatewayClient, name: str, **labels: str) -> float:
    text = client.gateway("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                return float(sample.value)
    raise AssertionError(f"{name}{labels} is not exported")


def test_the_breaker_opens_while_the_mes_is_down_and_closes_once_it_is_back(
    target: Target,
    run_id: str,
    own_gateway: str,
    mes_factory: MesFactory,
    plant: Plant,
) -> None:
    token = mint(target, "planner", plant.code)
    assert target.stack_dir, "a destructive test runs only on a stack Preflight started"
    state_dir = Path(target.stack_dir)
    with (
        GatewayCallers(target, run_id=run_id) as callers,
        GatewayClient(own_gateway, token, run_id=run_id) as planner,
    ):
        order = mes_factory.create_order(plant)
        expect_status(planner.get_order(order["id"]), 200)

        stack.stop_service("mes", state_dir=state_dir)
        try:
            write = planner.create_order(mes_factory.build_order(plant))
            expect_problem(write, 503, "upstream-unavailable")
            assert metric(planner, "gateway_upstream_retries_total", upstream="mes") == 0

            keyed = planner.create_order(mes_factory.build_order(plant), idempotency_key="k-1")
            expect_problem(keyed, 503, "upstream-unavailable")
            assert metric(planner, "gateway_upstream_retries_total", upstream="mes") == RETRIES
            assert metric(planner, "gateway_circuit_breaker_state", upstream="mes") == 0

            read = planner.get_order(order["id"])
            expect_problem(read, 503, "upstream-unavailable")
            assert metric(planner, "gateway_upstream_retries_total", upstream="mes") == 2 * RETRIES
            assert metric(planner, "gateway_circuit_breaker_state", upstream="mes") == 2

            attempts = metric(planner, "gateway_upstream_request_duration_seconds_count")
            refused = planner.get_order(order["id"])
            expect_problem(refused, 503, "upstream-unavailable")
            assert refused.headers["retry-after"] == "1"
            assert metric(planner, "gateway_upstream_request_duration_seconds_count") == attempts
        finally:
            stack.start_service("mes", state_dir=state_dir)

        wait_until(
            lambda: planner.get_order(order["id"]).status_code == 200,
            timeout=30,
            description="the gateway to close its breaker once the MES is back",
        )
        assert metric(planner, "gateway_circuit_breaker_state", upstream="mes") == 0
        everyone = callers("admin")
        wait_until(
            lambda: everyone.get_order(order["id"]).status_code == 200,
            timeout=30,
            description="the stack's gateway to serve the MES again",
        )
