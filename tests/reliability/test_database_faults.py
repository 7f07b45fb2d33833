"""PostgreSQL faults under a stream of order writes (50 orders/s, open model, each retried
with its Idempotency-Key while its outcome is unknown): the primary crashed and restarted, the
replica stopped and resumed. Every acknowledged order is on the primary exactly once, with
exactly one order.created event in its outbox; while the primary is down, writes are refused
with 503 problem+json and Retry-After (the client may retry), through the gateway as well,
never with a 500."""

from pathlib import Path

import pytest

from fixtures.mes import MesFactory, Plant
from preflight.clients.gateway import GatewayClient
from preflight.clients.mes import MesClient
from preflight.expect import expect_problem, expect_status
from preflight.faults import primary_crashed, replica_stopped
from preflight.report.fault_report import UnderLoad
from preflight.targets import Target
from preflight.tokens import mint
from preflight.waits import wait_until

pytestmark = [pytest.mark.destructive, pytest.mark.slow]


def test_a_crashed_primary_loses_no_acknowledged_order_and_refuses_writes_with_503(
    target: Target,
    run_id: str,
    state_dir: Path,
    under_load: UnderLoad,
    mes: MesClient,
    mes_factory: MesFactory,
    plant: Plant,
) -> None:
    token = mint(target, "planner", plant.code)
    with (
        GatewayClient(target.url("gateway"), token, run_id=run_id) as gateway,
        under_load(duration_s=8) as run,
        run.injected(primary_crashed(state_dir)) as fault,
    ):
        # The writes in flight and those arriving meanwhile meet a primary that is gone.
        wait_until(
            lambda: run.unknown_outcomes_since(fault.started) >= 20,
            timeout=15,
            description="writes to fail while the primary is down",
        )
        for refused in (
            mes.create_order(mes_factory.build_order(plant)),
            gateway.create_order(mes_factory.build_order(plant)),
        ):
            expect_problem(refused, 503, "service-unavailable")
            assert refused.headers.get("retry-after") == "1", refused.headers
    run.assert_refused_with_503("the primary was down", "the primary was back")


def test_reads_fall_back_to_the_primary_while_the_replica_is_down(
    state_dir: Path, under_load: UnderLoad, mes: MesClient, mes_factory: MesFactory, plant: Plant
) -> None:
    with under_load(duration_s=8) as run, run.injected(replica_stopped(state_dir)):
        # A client reads its own writes (by commit LSN) and anyone's (no LSN): both served.
        for _ in range(5):
            order = mes_factory.create_order(plant)
            run.load.history.invoke(order["order_ref"])  # acknowledged to the factory
            run.load.history.ok(order["order_ref"])
            released = expect_status(mes.transition(order["id"], "release"), 200)
            assert expect_status(mes.get_order(order["id"]), 200) == released
            listed = expect_status(mes.http.get(f"/orders/{order['id']}"), 200)
            assert listed["id"] == order["id"]
        run.notes = "5 read-your-writes checks passed"
