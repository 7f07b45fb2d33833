from collections.abc import Iterator
from pathlib import Path

import pytest

from preflight.clients.gateway import GatewayCallers
from preflight.targets import Target

SUITE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:  # the hook sees every test of the session: mark only this suite's
        if item.path.is_relative_to(SUITE):
            item.add_marker(pytest.mark.api)


@pytest.fixture
def callers(target: Target, run_id: str) -> Iterator[GatewayCallers]:
    """Gateway clients of any role, each with a token of its own (so its own rate-limit bucket)."""
    if "gateway" not in target.services:
        pytest.skip("the target has no gateway")
    if not target.signing_key:
        pytest.skip("the target gives no signing key ([auth] signing_key) to mint tokens with")
    with GatewayCallers(target, run_id=run_id) as made:
        yield made
