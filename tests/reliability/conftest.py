import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.mes import MesFactory, Plant
from preflight.report.fault_report import (
    FaultReport,
    FaultUnderLoad,
    UnderLoad,
    assert_nothing_lost,
)
from preflight.targets import Target
from preflight.write_load import WriteLoad

SUITE = Path(__file__).parent
RATE = 55.0  # orders per second, open model (at least 50 reach the target)
WARM_UP = 100  # acknowledged writes before the fault: it meets a busy system


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:  # the hook sees every test of the session: mark only this suite's
        if item.path.is_relative_to(SUITE):
            item.add_marker(pytest.mark.reliability)


@pytest.fixture
def state_dir(target: Target) -> Path:
    """The stack Preflight started (destructive tests run on no other)."""
    if target.stack_dir is None:
        pytest.skip("needs a stack Preflight started")
    return Path(target.stack_dir)


@pytest.fixture
def order_load(
    target: Target, run_id: str, mes_factory: MesFactory, plant: Plant
) -> Callable[..., WriteLoad]:
    """An open-model writer of orders into the test's plant (the MES's /orders by default)."""

    def make(url: str | None = None, **options: Any) -> WriteLoad:
        headers = dict(target.headers) | {"X-Preflight-Run": run_id}
        headers |= options.pop("headers", {})
        return WriteLoad(
            url or f"{target.url('mes')}/orders",
            headers,
            lambda n: mes_factory.build_order(plant),
            **({"rate": RATE} | options),
        )

    return make


@pytest.fixture
def fault_report(request: pytest.FixtureRequest, run_id: str) -> FaultReport:
    from preflight import stack

    return FaultReport(
        request.node.nodeid, stack.project_root() / ".preflight" / "reliability" / run_id
    )


@pytest.fixture
def under_load(
    order_load: Callable[..., WriteLoad], fault_report: FaultReport, mes_db: str, plant: Plant
) -> UnderLoad:
    """Run a block under the order load (`order_load`'s arguments), once WARM_UP writes were
    acknowledged; the block injects its fault with `run.injected(...)`. On leaving, the load
    is over: its writes are checked against the primary, the figures printed and reported, and
    nothing may be lost, duplicated or made up (`run.verdict`, `run.figures` for more checks).

        with under_load(duration_s=8) as run:
            with run.injected(primary_crashed(state_dir)):
                ...
    """

    @contextlib.contextmanager
    def run(url: str | None = None, **options: Any) -> Iterator[FaultUnderLoad]:
        loaded = FaultUnderLoad(order_load(url, **options))
        with loaded.load.running():
            loaded.load.wait_for_acknowledged(WARM_UP)
            yield loaded
        assert loaded.fault is not None, "the block injected no fault (run.injected)"
        loaded.verdict, loaded.figures = fault_report.check(
            loaded.load, loaded.fault, mes_db=mes_db, plant=plant.code, notes=loaded.notes
        )
        assert_nothing_lost(loaded.verdict, loaded.figures)

    return run
