import pytest

from fixtures.mes import MesFactory, Plant


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.api)


@pytest.fixture
def plant(mes_factory: MesFactory) -> Plant:
    """A plant of this test's own, with three work centers."""
    return mes_factory.create_plant()
