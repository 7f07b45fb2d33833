from pathlib import Path

import pytest

from fixtures.pacts import ProviderStates
from preflight.clients.mes import MesClient
from preflight.targets import Target

SUITE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:  # the hook sees every test of the session: mark only this suite's
        if item.path.is_relative_to(SUITE):
            item.add_marker(pytest.mark.contract)


@pytest.fixture
def provider_states(target: Target, mes: MesClient, mes_db: str) -> ProviderStates:
    """The pacts' provider states on the target's real MES (API and primary database)."""
    return ProviderStates(mes, mes_db, target.redis_url)
