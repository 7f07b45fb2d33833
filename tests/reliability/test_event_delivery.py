"""Events reach the reporting service exactly once under a stream of order writes (50 orders/s,
open model, through `under_load`): its consumer killed in the middle of a batch while the stream
delivers some events twice (copies added, rows the relay publishes again), and a poison event
that goes to the dead-letter stream while the rest flows on. Each run ends with two checkers:
the clients' writes against the primary (acknowledged, lost, duplicated, recovery), and the
events the MES committed against those the consumer applied (lost, duplicated)."""

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import allure
import psycopg
import pytest

from fixtures.events import poison_like, wait_for_dead_poison
from fixtures.mes import MesFactory, Plant
from preflight.clients.events import EventStream
from preflight.faults import (
    Fault,
    Latency,
    ServicePaths,
    behind_fault_proxies,
    service_killed,
)
from preflight.history import DeliveryVerdict, compare
from preflight.report.fault_report import UnderLoad, unpublished_events
from preflight.targets import Target
from preflight.waits import wait_until

pytestmark = [pytest.mark.destructive, pytest.mark.slow]

GROUP = "reporting"
LATE = Latency(0.1, jitter_s=0.02)


@pytest.fixture
def reporting_db(target: Target) -> str:
    reporting = target.database("reporting")
    if target.stack_dir is None or "reporting" not in target.services or reporting is None:
        pytest.skip("needs a stack Preflight started, with the reporting service")
    return reporting.primary


@pytest.fixture
def events(target: Target) -> Iterator[EventStream]:
    assert target.redis_url is not None
    with EventStream(target.redis_url) as stream:
        yield stream


def produced(mes_db: str, plant: str) -> Counter[str]:
    """The events the MES committed for the plant's orders, by order id."""
    with psycopg.connect(mes_db) as conn:
        rows = conn.execute(
            "SELECT aggregate_id, count(*) FROM outbox WHERE payload->>'plant' = %s GROUP BY 1",
            (plant,),
        ).fetchall()
    return Counter({str(order_id): int(count) for order_id, count in rows})


def applied(reporting_db: str, plant: str) -> Counter[str]:
    """How many events the reporting service applied to each of the plant's orders."""
    with psycopg.connect(reporting_db) as conn:
        rows = conn.execute(
            "SELECT order_id::text, events_applied FROM report_orders WHERE plant = %s", (plant,)
        ).fetchall()
    return Counter({order_id: int(count) for order_id, count in rows})


def pending(events: EventStream) -> int:
    """Entries the group's consumers read and did not acknowledge yet."""
    return int(events.redis.xpending(events.stream, GROUP)["pending"])


def group_info(events: EventStream) -> dict[str, Any]:
    """The group's XINFO GROUPS entry (empty before the group exists)."""
    groups = {g["name"].decode(): g for g in events.redis.xinfo_groups(events.stream)}
    return dict(groups.get(GROUP, {}))


def group_idle(events: EventStream) -> bool:
    group = group_info(events)
    return group.get("pending") == 0 and group.get("lag") == 0


def stream_id(text: bytes | str) -> tuple[int, int]:
    ms, _, seq = (text.decode() if isinstance(text, bytes) else text).partition("-")
    return int(ms), int(seq or 0)


def drained(events: EventStream, mes_db: str) -> bool:
    """Nothing is left for the reporting service: the relay published every committed event and
    the group read and acknowledged the whole stream (earlier tests' backlog included)."""
    if unpublished_events(mes_db) > 0:
        return False
    group = group_info(events)
    if group.get("pending") != 0:
        return False
    last = events.redis.xinfo_stream(events.stream)["last-generated-id"]
    return stream_id(group["last-delivered-id"]) >= stream_id(last)


def delivered_once(
    events: EventStream, mes_db: str, reporting_db: str, plant: str, since: float, notes: str
) -> DeliveryVerdict:
    """Once the consumer has caught up (its group idle, as many applications as events), the
    delivery checker's verdict, printed and attached with the time it took from `since`."""
    wait_until(
        lambda: (
            applied(reporting_db, plant).total() >= produced(mes_db, plant).total()
            and group_idle(events)
        ),
        timeout=180,
        interval=0.5,
        description="the reporting service to apply every event",
    )
    caught_up_s = time.monotonic() - since
    verdict = compare(produced(mes_db, plant), applied(reporting_db, plant))
    text = f"delivery: {verdict.summary()}; caught up {caught_up_s:.1f} s after the fault; {notes}"
    print(text)
    allure.attach(text, name="delivery verdict", attachment_type=allure.attachment_type.TEXT)
    assert verdict.exactly_once, verdict.summary()
    return verdict


def duplicate_deliveries(events: EventStream, mes_db: str, plant: str, mark: str) -> str:
    """Deliver some of the plant's events twice: a copy of every third entry since `mark` added
    to the stream, and up to 100 published outbox rows marked for the relay to publish again."""
    ours = [e for e in events.since(mark) if e.get("data", {}).get("plant") == plant]
    for entry in ours[::3]:
        fields: list[tuple[bytes, dict[bytes, bytes]]] = events.redis.xrange(  # type: ignore[assignment]
            events.stream, min=entry["_entry"], max=entry["_entry"]
        )
        events.redis.xadd(events.stream, fields[0][1])  # type: ignore[arg-type]
    with psycopg.connect(mes_db, autocommit=True) as conn:
        republished = conn.execute(
            "UPDATE outbox SET published_at = NULL WHERE id IN (SELECT id FROM outbox"
            " WHERE payload->>'plant' = %s AND published_at IS NOT NULL LIMIT 100)",
            (plant,),
        ).rowcount
    return f"copies added {len(ours[::3])}, rows republished {republished}"


@pytest.fixture
def reporting_paths(state_dir: Path) -> Iterator[ServicePaths]:
    """The reporting service reaching its database (and Redis) through fault proxies."""
    with behind_fault_proxies("reporting", state_dir, seed=7) as paths:
        yield paths


def test_a_consumer_killed_mid_batch_under_load_applies_every_event_once(
    state_dir: Path,
    reporting_paths: ServicePaths,
    under_load: UnderLoad,
    events: EventStream,
    mes_db: str,
    reporting_db: str,
    plant: Plant,
) -> None:
    assert reporting_paths.postgres is not None
    # What earlier tests left (a load run's thousands of events, entries a stopped consumer held
    # pending, reclaimed one at a time) would take the consumer, 100 ms late on every round
    # trip, longer than the load lasts to work through: it starts with nothing to catch up on.
    wait_until(
        lambda: drained(events, mes_db),
        timeout=120,
        interval=0.25,
        description="the reporting service to work through the stream's backlog",
    )
    mark = events.mark()
    # Each round trip to its database 100 ms late: a batch stays read but unacknowledged long
    # enough for the kill to land in the middle of one.
    with reporting_paths.postgres.toxic(LATE), under_load(duration_s=20) as run:
        wait_until(
            lambda: applied(reporting_db, plant.code).total() >= 50 and pending(events) > 0,
            timeout=30,
            interval=0.02,
            description="the reporting service in the middle of a batch",
        )
        killed = service_killed("reporting", state_dir, env=reporting_paths.env)
        with run.injected(killed) as fault:
            held = pending(events)  # read by the dead consumer, never acknowledged
            before = applied(reporting_db, plant.code).total()
            run.load.wait_for_acknowledged(run.load.acknowledged() + 100)  # writes go on
            copies = duplicate_deliveries(events, mes_db, plant.code, mark)
        run.notes = f"consumer SIGKILLed with {held} entries pending, {before} applied; {copies}"
    assert fault.healed is not None

    verdict = delivered_once(events, mes_db, reporting_db, plant.code, fault.healed, run.notes)
    assert held > 0, "the consumer was not killed in the middle of a batch"
    assert verdict.produced >= run.load.acknowledged() > before


def test_a_poison_event_under_load_goes_to_the_dead_letter_stream_and_the_rest_flows_on(
    under_load: UnderLoad,
    events: EventStream,
    mes_factory: MesFactory,
    mes_db: str,
    reporting_db: str,
    plant: Plant,
) -> None:
    order = mes_factory.create_order(plant)
    poison = poison_like(order)
    with under_load(duration_s=20) as run:
        run.load.history.invoke(order["order_ref"])  # acknowledged to the factory
        run.load.history.ok(order["order_ref"])
        run.fault = Fault("a poison event in the stream (its subject is no order id)")
        poison_id = events.redis.xadd(events.stream, poison).decode()  # type: ignore[union-attr,arg-type]
        record = wait_for_dead_poison(events, GROUP, poison_id)
        run.fault.heal()
        run.notes = f"dead-lettered after {int(record[b'attempts'])} attempts"

    assert run.fault.healed is not None
    delivered_once(events, mes_db, reporting_db, plant.code, run.fault.healed, run.notes)
