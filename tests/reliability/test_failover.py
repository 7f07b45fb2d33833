"""Failover under a stream of order writes, on a stack of the test's own (the MES and its relay):
the primary is fenced, the replica promoted and the services restarted against it
(`preflight.stack.fail_over`). Every acknowledged order is on the new primary exactly once with
its outbox event, and the relay publishes from the new primary."""

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from faker import Faker

from fixtures.mes import MesFactory
from preflight import stack
from preflight.clients.mes import MesClient
from preflight.faults import replica_promoted
from preflight.report.fault_report import FaultReport, assert_nothing_lost, unpublished_events
from preflight.waits import wait_until
from preflight.write_load import WriteLoad

pytestmark = [pytest.mark.destructive, pytest.mark.slow]


@pytest.fixture(scope="module")
def own_stack() -> Iterator[tuple[Path, stack.StackInfo]]:
    """A stack that will lose its replica: the shared one must stay whole for other tests.
    Its directory is one the postgres account can enter when the tests run as root."""
    scratch = Path(tempfile.mkdtemp(prefix="preflight-failover-"))
    scratch.chmod(0o755)
    state_dir = scratch / "stack"
    try:
        with stack.running(
            state_dir=state_dir, services=["mes", "mes-relay"], tracing=False
        ) as info:
            yield state_dir, info
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_a_failover_to_the_promoted_replica_loses_no_acknowledged_order(
    own_stack: tuple[Path, stack.StackInfo],
    fake: Faker,
    run_id: str,
    fault_report: FaultReport,
) -> None:
    state_dir, info = own_stack
    with MesClient(info.services["mes"], run_id=run_id) as mes:
        factory = MesFactory(mes, fake, run_id)
        plant = factory.create_plant()
        load = WriteLoad(
            f"{info.services['mes']}/orders",
            {"X-Preflight-Run": run_id},
            lambda n: factory.build_order(plant),
            rate=55,
            duration_s=9,
            settle_s=120,  # the failover restarts the services: writes wait that long
        )
        with load.running():
            load.wait_for_acknowledged(100)
            fault = replica_promoted(state_dir)

    after = stack.status(state_dir=state_dir)
    assert after is not None
    assert after.postgres_primary == info.postgres_replica
    new_primary = after.database_dsn("mes")
    with psycopg.connect(new_primary) as conn:
        row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        assert row == (False,)
    verdict, run = fault_report.check(
        load, fault, mes_db=new_primary, plant=plant.code, notes="read on the promoted replica"
    )
    assert_nothing_lost(verdict, run)
    wait_until(
        lambda: unpublished_events(new_primary, plant.code) == 0,
        timeout=60,
        description="the relay to publish from the new primary",
    )
