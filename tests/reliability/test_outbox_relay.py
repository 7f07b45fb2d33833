"""The outbox relay loses nothing when it crashes or when Redis restarts and loses entries."""

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from fixtures.mes import MesFactory, Plant
from preflight import stack
from preflight.clients.events import EventStream
from preflight.targets import Target
from preflight.waits import wait_until

pytestmark = [pytest.mark.destructive, pytest.mark.slow]


@pytest.fixture
def stack_dir(target: Target) -> Path:
    if target.stack_dir is None or "mes-relay" not in target.services:
        pytest.skip("needs a stack Preflight started, with the MES outbox relay")
    return Path(target.stack_dir)


@pytest.fixture
def events(target: Target) -> Iterator[EventStream]:
    assert target.redis_url is not None
    with EventStream(target.redis_url) as stream:
        yield stream


def unpublished(mes_db: str, order_ids: list[str]) -> int:
    with psycopg.connect(mes_db) as conn:
        row = conn.execute(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL AND aggregate_id = ANY(%s)",
            (order_ids,),
        ).fetchone()
    return int(row[0]) if row else 0


def created_events(found: list[dict[str, object]]) -> dict[object, int]:
    counts: dict[object, int] = {}
    for event in found:
        if event["type"] == "order.created":
            counts[event["subject"]] = counts.get(event["subject"], 0) + 1
    return counts


def test_a_crashed_relay_publishes_everything_committed_meanwhile_once_back(
    mes_factory: MesFactory, plant: Plant, events: EventStream, stack_dir: Path, mes_db: str
) -> None:
    mark = events.mark()
    stack.stop_service("mes-relay", state_dir=stack_dir, kill=True)
    try:
        orders = [mes_factory.create_order(plant)["id"] for _ in range(30)]
        assert unpublished(mes_db, orders) == 30
        assert events.about(orders, mark) == []
    finally:
        stack.start_service("mes-relay", state_dir=stack_dir)

    published = events.wait_for(orders, lambda found: len(found) >= 30, mark=mark)

    assert created_events(published) == dict.fromkeys(orders, 1)
    sequences = [e["sequence"] for e in published]
    assert sequences == sorted(sequences)
    # The relay marks rows published after the stream has them: wait for that commit too.
    wait_until(
        lambda: unpublished(mes_db, orders) == 0,
        timeout=10,
        description="the relay to mark the published rows",
    )


def test_entries_a_restarted_redis_lost_are_published_again(
    mes_factory: MesFactory, plant: Plant, events: EventStream, stack_dir: Path
) -> None:
    mark = events.mark()
    orders = [mes_factory.create_order(plant)["id"] for _ in range(10)]
    published = events.wait_for(orders, lambda found: len(found) >= 10, mark=mark)
    # A Redis whose log lost its tail: the entries from the sixth order on are gone.
    lost_from = published[5]["_entry"]
    tail = [entry_id for entry_id, _ in events.redis.xrange(events.stream, min=lost_from)]
    events.redis.xdel(events.stream, *tail)
    assert created_events(events.about(orders, mark)) == dict.fromkeys(orders[:5], 1)

    stack.restart_redis(state_dir=stack_dir)
    later = [mes_factory.create_order(plant)["id"] for _ in range(5)]

    everything = orders + later
    found = events.wait_for(
        everything,
        lambda found: set(created_events(found)) == set(everything),
        mark=mark,
        description="the lost entries published again and the new ones published",
    )
    assert created_events(found) == dict.fromkeys(everything, 1)
