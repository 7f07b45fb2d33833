"""The MES goes away and comes back: the gateway retries only what is safe to repeat, opens its
circuit breaker, answers fast while it is open, and closes it once the MES answers again.

The exact counts are checked on a gateway of the test's own (same code, the stack's MES and Redis,
a short cool-down), so that other callers of the stack's gateway, such as the CRM's poller, cannot
move its breaker; the stack's own gateway is then checked to recover as well.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.gateway import breaker_state, own_gateway, upstream_attempts, upstream_retries
from fixtures.mes import MesFactory, Plant
from preflight import stack
from preflight.clients.gateway import GatewayCallers, GatewayClient
from preflight.expect import expect_problem, expect_status
from preflight.targets import Target
from preflight.tokens import mint
from preflight.waits import wait_until

pytestmark = [pytest.mark.destructive, pytest.mark.slow]

THRESHOLD = 7  # the failed attempts of the three requests below
RETRIES = 2
COOLDOWN_S = 1.0


@pytest.fixture
def gateway(target: Target, tmp_path: Path) -> Iterator[str]:
    settings = {
        "GATEWAY_BREAKER_THRESHOLD": str(THRESHOLD),
        "GATEWAY_BREAKER_COOLDOWN_S": str(COOLDOWN_S),
        "GATEWAY_RETRIES": str(RETRIES),
    }
    with own_gateway(target, target.url("mes"), tmp_path, settings) as url:
        yield url


def test_the_breaker_opens_while_the_mes_is_down_and_closes_once_it_is_back(
    target: Target,
    run_id: str,
    gateway: str,
    mes_factory: MesFactory,
    plant: Plant,
) -> None:
    token = mint(target, "planner", plant.code)
    assert target.stack_dir, "a destructive test runs only on a stack Preflight started"
    state_dir = Path(target.stack_dir)
    with (
        GatewayCallers(target, run_id=run_id) as callers,
        GatewayClient(gateway, token, run_id=run_id) as planner,
    ):
        order = mes_factory.create_order(plant)
        expect_status(planner.get_order(order["id"]), 200)

        stack.stop_service("mes", state_dir=state_dir)
        try:
            write = planner.create_order(mes_factory.build_order(plant))
            expect_problem(write, 503, "upstream-unavailable")
            assert upstream_retries(gateway) == 0

            keyed = planner.create_order(mes_factory.build_order(plant), idempotency_key="k-1")
            expect_problem(keyed, 503, "upstream-unavailable")
            assert upstream_retries(gateway) == RETRIES
            assert breaker_state(gateway) == 0

            read = planner.get_order(order["id"])
            expect_problem(read, 503, "upstream-unavailable")
            assert upstream_retries(gateway) == 2 * RETRIES
            assert breaker_state(gateway) == 2

            attempts = upstream_attempts(gateway)
            refused = planner.get_order(order["id"])
            expect_problem(refused, 503, "upstream-unavailable")
            assert refused.headers["retry-after"] == "1"
            assert upstream_attempts(gateway) == attempts
        finally:
            stack.start_service("mes", state_dir=state_dir)

        wait_until(
            lambda: planner.get_order(order["id"]).status_code == 200,
            timeout=30,
            description="the gateway to close its breaker once the MES is back",
        )
        assert breaker_state(gateway) == 0
        everyone = callers("admin")
        wait_until(
            lambda: everyone.get_order(order["id"]).status_code == 200,
            timeout=30,
            description="the stack's gateway to serve the MES again",
        )
