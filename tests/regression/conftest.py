from collections.abc import Iterator
from pathlib import Path

import pytest
from faker import Faker

from fixtures.order_flow import Actors, OrderFlow
from preflight.targets import Target

SUITE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:  # the hook sees every test of the session: mark only this suite's
        if item.path.is_relative_to(SUITE):
            item.add_marker(pytest.mark.regression)


@pytest.fixture
def actors(target: Target, run_id: str) -> Iterator[Actors]:
    if "gateway" not in target.services:
        pytest.skip("the regression suite goes through the gateway; the target has none")
    if not target.signing_key and "authorization" not in {k.lower() for k in target.headers}:
        pytest.skip("the target gives neither a signing key nor an Authorization header")
    people = Actors(target, run_id)
    yield people
    people.close()


@pytest.fixture
def flow(actors: Actors, fake: Faker) -> OrderFlow:
    return OrderFlow(actors, fake)
