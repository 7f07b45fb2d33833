"""The suite catches a broken build: an MES that writes its outbox row after the order's
transaction commits (tests/reliability/broken_builds/outbox_after_commit.py), killed under load
between the two writes. The clients lose nothing they were told (the orders are there), but the
checker finds acknowledged orders whose event is lost: such a build fails the gate."""

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from fixtures.mes import Plant
from preflight import processes, stack
from preflight.faults import Fault
from preflight.ports import LOOPBACK, free_port
from preflight.report.fault_report import FaultReport
from preflight.targets import Target
from preflight.waits import wait_until
from preflight.write_load import WriteLoad

pytestmark = [pytest.mark.destructive, pytest.mark.slow]

BROKEN_APP = "tests.reliability.broken_builds.outbox_after_commit:app_factory"


class BrokenMes:
    """The broken MES as a process of the test's own, on the stack's MES database."""

    def __init__(self, target: Target, mes_db: str, log: Path) -> None:
        dsns = target.database("mes")
        assert dsns is not None
        assert target.redis_url is not None
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.log = log
        self.env = os.environ | {
            "PYTHONUNBUFFERED": "1",
            "MES_DATABASE_URL": stack.asyncpg_url(mes_db),
            "MES_REPLICA_DATABASE_URL": stack.asyncpg_url(dsns.replica or mes_db),
            "MES_REDIS_URL": target.redis_url,
        }
        self.child: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.child = processes.spawn(
            [
                *(sys.executable, "-m", "uvicorn", "--factory", BROKEN_APP),
                *("--host", LOOPBACK, "--port", str(self.port), "--log-level", "warning"),
            ],
            log=self.log,
            env=self.env,
            cwd=stack.project_root(),
        )
        wait_until(
            lambda: httpx.get(f"{self.url}/health/ready", timeout=1).status_code == 200,
            timeout=60,
            description="the broken MES to be ready",
            ignored_exceptions=(httpx.HTTPError,),
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.child is not None:
            processes.end_processes([(psutil.Process(self.child.pid), (sig,))], grace=5)
            self.child = None


@pytest.fixture
def broken_mes(target: Target, mes_db: str, tmp_path: Path) -> Iterator[BrokenMes]:
    if target.stack_dir is None:
        pytest.skip("starts a broken MES on the database of a stack Preflight started")
    mes = BrokenMes(target, mes_db, tmp_path / "broken-mes.log")
    mes.start()
    try:
        yield mes
    finally:
        mes.stop()


def test_an_outbox_written_outside_the_transaction_loses_events_the_checker_finds(
    broken_mes: BrokenMes,
    order_load: Callable[..., WriteLoad],
    fault_report: FaultReport,
    mes_db: str,
    plant: Plant,
) -> None:
    load = order_load(f"{broken_mes.url}/orders", duration_s=6)
    with load.running():
        load.wait_for_acknowledged(100)
        broken_mes.stop(signal.SIGKILL)  # between commits and their late outbox writes
        fault = Fault("broken MES (outbox after commit) killed")
        broken_mes.start()
        fault.heal()
    verdict, run = fault_report.check(load, fault, mes_db=mes_db, plant=plant.code, publish=False)

    assert verdict.lost == 0, "the orders themselves are committed: only their events are lost"
    assert run.events_lost > 0, f"the checker missed the lost events: {run}"
    assert not run.survived
