from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.mes import MesFactory, Plant
from preflight.report.fault_report import FaultReport
from preflight.targets import Target
from preflight.write_load import WriteLoad

SUITE = Path(__file__).parent
RATE = 55.0  # orders per second, open model (at least 50 reach the target)


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
def fault_report(request: pytest.FixtureRequest, run_id: str) -> Iterator[FaultReport]:
    from preflight import stack

    return FaultReport(
        request.node.nodeid, stack.project_root() / ".preflight" / "reliability" / run_id
    )
