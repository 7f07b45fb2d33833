"""Faults on the paths from the MES to PostgreSQL and to Redis, under a stream of order writes
(50 orders/s, open model, each retried with its Idempotency-Key while its outcome is unknown).
The stack's MES reaches its primary and Redis through fault proxies (`behind_fault_proxies`).

PostgreSQL slowed, then resetting every connection: slow round trips still commit; while every
connection is reset, writes are refused with 503 problem+json and Retry-After, never a 500; once
the path heals, writes are acknowledged again. Redis silent (answers swallowed): reads go around
the cache and writes go on. No acknowledged order is lost or written twice."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.mes import MesFactory, Plant
from preflight.clients.mes import MesClient
from preflight.expect import expect_problem, expect_status
from preflight.faults import (
    Latency,
    ResetPeer,
    ServicePaths,
    Timeout,
    behind_fault_proxies,
    path_faulted,
)
from preflight.report.fault_report import UnderLoad
from preflight.waits import wait_until

pytestmark = [pytest.mark.destructive, pytest.mark.slow]

REFUSED = 20  # writes answered with an unknown outcome while the path resets


@pytest.fixture
def mes_paths(state_dir: Path) -> Iterator[ServicePaths]:
    with behind_fault_proxies("mes", state_dir, seed=11) as paths:
        yield paths


def test_a_slow_then_resetting_path_to_postgresql_loses_no_order_and_refuses_with_503(
    mes_paths: ServicePaths,
    under_load: UnderLoad,
    mes: MesClient,
    mes_factory: MesFactory,
    plant: Plant,
) -> None:
    database = mes_paths.postgres
    with under_load(duration_s=12) as run:
        with path_faulted(database, Latency(0.02, jitter_s=0.01), "MES -> PostgreSQL slowed"):
            slowed_from = run.load.acknowledged()
            run.load.wait_for_acknowledged(slowed_from + 50)  # slow, but committed
        reset = path_faulted(database, ResetPeer(), "MES -> PostgreSQL connections reset")
        with run.injected(reset) as fault:
            wait_until(
                lambda: run.unknown_outcomes_since(fault.started) >= REFUSED,
                timeout=15,
                description=f"{REFUSED} writes refused while the path resets",
            )
            refused = mes.create_order(mes_factory.build_order(plant))
            expect_problem(refused, 503, "service-unavailable")
            assert refused.headers.get("retry-after") == "1", refused.headers
        assert database is not None
        run.notes = f"the MES reached PostgreSQL through a fault proxy on port {database.port}"

    run.assert_refused_with_503("the path reset", "the path healed")


def test_a_silent_path_to_redis_loses_no_order_and_reads_go_around_the_cache(
    mes_paths: ServicePaths,
    under_load: UnderLoad,
    mes: MesClient,
    mes_factory: MesFactory,
    plant: Plant,
) -> None:
    order = mes_factory.create_order(plant)
    with under_load(duration_s=10) as run:
        run.load.history.invoke(order["order_ref"])  # acknowledged to the factory
        run.load.history.ok(order["order_ref"])
        silent = path_faulted(mes_paths.redis, Timeout(), "MES -> Redis silent (black hole)")
        with run.injected(silent):
            # The cache does not answer: the read waits out its socket timeout and goes around.
            assert expect_status(mes.get_order(order["id"]), 200)["id"] == order["id"]
            run.load.wait_for_acknowledged(run.load.acknowledged() + 50)  # writes go on

    refusals = run.load.history.details("info", top=5)
    assert not run.server_errors(), f"a 5xx other than 503 while Redis was silent: {refusals}"
