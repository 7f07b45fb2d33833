from collections.abc import Iterator
from functools import partial
from pathlib import Path

import psycopg
import pytest
from faker import Faker

from fixtures.order_flow import Actors, OrderFlow
from preflight.clients.events import EventStream
from preflight.targets import Target
from preflight.waits import wait_until
from reference_services.platform.events import validation_errors

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


@pytest.fixture(autouse=True)
def events_follow_their_contracts(target: Target) -> Iterator[None]:
    """Every event the MES publishes while a regression test runs validates against
    contracts/events (checked when the test ends, once the relay has caught up)."""
    if target.redis_url is None:
        yield
        return
    with EventStream(target.redis_url) as stream:
        mark = stream.mark()
        yield
        mes = target.database("mes")
        if mes is not None:
            position = committed_outbox_position(mes.primary)
            wait_until(
                partial(published_up_to, mes.primary, position),
                timeout=20,
                description=f"the relay to publish outbox position {position}",
            )
        broken = [
            f"{event['type']} {event['id']}: {'; '.join(errors)}"
            for event in stream.since(mark)
            if (errors := validation_errors({k: v for k, v in event.items() if k != "_entry"}))
        ]
    if broken:
        pytest.fail("events that break their contract:\n" + "\n".join(broken[:20]))


def committed_outbox_position(dsn: str) -> int:
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        row = conn.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()
    return int(row[0]) if row else 0


def published_up_to(dsn: str, position: int) -> bool:
    """Whether the relay has published every outbox row up to `position` (the stream's last
    entry says less: copies or republished rows may follow the newest one)."""
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT NOT EXISTS (SELECT 1 FROM outbox WHERE id <= %s AND published_at IS NULL)",
            (position,),
        ).fetchone()
    return bool(row and row[0])
