"""PostgreSQL faults under a stream of order writes (50 orders/s, open model, each retried
with its Idempotency-Key while its outcome is unknown): the primary crashed and restarted, the
replica stopped and resumed. Every acknowledged order is on the primary exactly once, with
exactly one order.created event in its outbox."""

from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.mes import MesFactory, Plant
from preflight.clients.mes import MesClient
from preflight.expect import expect_status
from preflight.faults import primary_crashed, replica_stopped
from preflight.report.fault_report import FaultReport, assert_nothing_lost
from preflight.waits import wait_until
from preflight.write_load import WriteLoad

pytestmark = [pytest.mark.destructive, pytest.mark.slow]


def unknown_outcomes_since(load: WriteLoad, moment: float) -> int:
    return sum(1 for op in load.history.operations if op.outcome == "info" and op.at >= moment)


def test_a_crashed_primary_loses_no_acknowledged_order(
    state_dir: Path,
    order_load: Callable[..., WriteLoad],
    fault_report: FaultReport,
    mes_db: str,
    plant: Plant,
) -> None:
    load = order_load(duration_s=8)
    with load.running():
        load.wait_for_acknowledged(100)
        with primary_crashed(state_dir) as fault:
            # The writes in flight and those arriving meanwhile meet a primary that is gone.
            wait_until(
                lambda: unknown_outcomes_since(load, fault.started) >= 20,
                timeout=15,
                description="writes to fail while the primary is down",
            )
    verdict, run = fault_report.check(load, fault, mes_db=mes_db, plant=plant.code)

    assert_nothing_lost(verdict, run)
    assert run.recovery_s is not None, "no write was acknowledged once the primary was back"


def test_reads_fall_back_to_the_primary_while_the_replica_is_down(
    state_dir: Path,
    order_load: Callable[..., WriteLoad],
    fault_report: FaultReport,
    mes: MesClient,
    mes_factory: MesFactory,
    mes_db: str,
    plant: Plant,
) -> None:
    load = order_load(duration_s=8)
    with load.running():
        load.wait_for_acknowledged(100)
        with replica_stopped(state_dir) as fault:
            # A client reads its own writes (by commit LSN) and anyone's (no LSN): both served.
            for _ in range(5):
                order = mes_factory.create_order(plant)
                load.history.invoke(order["order_ref"])  # acknowledged to the factory
                load.history.ok(order["order_ref"])
                released = expect_status(mes.transition(order["id"], "release"), 200)
                assert expect_status(mes.get_order(order["id"]), 200) == released
                listed = expect_status(mes.http.get(f"/orders/{order['id']}"), 200)
                assert listed["id"] == order["id"]
    verdict, run = fault_report.check(
        load, fault, mes_db=mes_db, plant=plant.code, notes="5 read-your-writes checks passed"
    )

    assert_nothing_lost(verdict, run)
