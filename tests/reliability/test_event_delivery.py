"""A thousand orders' events reach the reporting service exactly once, although the stream
delivers some twice (the relay republishes rows, copies are added to the stream) and the consumer
is killed in the middle of a batch: an operation history of what the MES committed and what the
consumer applied, checked for lost and duplicated applications."""

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import allure
import psycopg
import pytest

from fixtures.mes import MesFactory, Plant
from preflight import stack
from preflight.clients.events import EventStream
from preflight.clients.mes import MesClient
from preflight.history import History, check
from preflight.pytest_plugin import service_url
from preflight.targets import Target
from preflight.waits import wait_until

pytestmark = [pytest.mark.destructive, pytest.mark.slow]

ORDERS = 1000
WORKERS = 8
GROUP = "reporting"


@pytest.fixture
def stack_dir(target: Target) -> Path:
    if target.stack_dir is None or "reporting" not in target.services:
        pytest.skip("needs a stack Preflight started, with the reporting service")
    return Path(target.stack_dir)


@pytest.fixture
def events(target: Target) -> Iterator[EventStream]:
    assert target.redis_url is not None
    with EventStream(target.redis_url) as stream:
        yield stream


def produced(mes_db: str, order_ids: list[str]) -> dict[str, list[str]]:
    """The events the MES committed for these orders (outbox event ids by order)."""
    found: dict[str, list[str]] = {}
    with psycopg.connect(mes_db) as conn:
        for order_id, event_id in conn.execute(
            "SELECT aggregate_id, event_id::text FROM outbox WHERE aggregate_id = ANY(%s)",
            (order_ids,),
        ):
            found.setdefault(order_id, []).append(event_id)
    return found


def applied(reporting_db: str, order_ids: list[str]) -> Counter[str]:
    """How many events the reporting service applied to each order (its read model's count)."""
    with psycopg.connect(reporting_db) as conn:
        rows = conn.execute(
            "SELECT order_id::text, events_applied FROM report_orders"
            " WHERE order_id = ANY(%s::uuid[])",
            (order_ids,),
        ).fetchall()
    return Counter({order_id: count for order_id, count in rows})


def applied_to_plant(reporting_db: str, plant: str) -> int:
    with psycopg.connect(reporting_db) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(events_applied), 0) FROM report_orders WHERE plant = %s", (plant,)
        ).fetchone()
    return int(row[0]) if row else 0


def place_orders(target: Target, run_id: str, factory: MesFactory, plant: Plant) -> list[str]:
    """ORDERS orders from WORKERS threads, each its own client; every third released, every
    seventh cancelled, so orders carry one to three events."""
    local = threading.local()

    def client() -> MesClient:
        if not hasattr(local, "mes"):
            local.mes = MesClient(service_url(target, "mes"), headers=target.headers, run_id=run_id)
        mes: MesClient = local.mes
        return mes

    def one(n: int) -> str:
        mes = client()
        response = mes.create_order(factory.build_order(plant))
        assert response.status_code == 201, response.text
        order_id: str = response.json()["id"]
        if n % 3 == 0:
            assert mes.transition(order_id, "release").status_code == 200
        if n % 7 == 0:
            assert mes.transition(order_id, "cancel").status_code == 200
        return order_id

    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(one, range(ORDERS)))


def test_every_event_is_applied_exactly_once_despite_duplicates_and_a_killed_consumer(
    target: Target,
    run_id: str,
    mes_factory: MesFactory,
    plant: Plant,
    events: EventStream,
    stack_dir: Path,
    mes_db: str,
) -> None:
    reporting = target.database("reporting")
    assert reporting is not None
    mark = events.mark()

    with ThreadPoolExecutor(1) as background:
        placing = background.submit(place_orders, target, run_id, mes_factory, plant)
        # Kill the consumer while orders still come in: some events applied, some read but not
        # acknowledged (pending with the dead consumer), the rest not read yet.
        wait_until(
            lambda: applied_to_plant(reporting.primary, plant.code) >= 100 or placing.done(),
            timeout=120,
            description="the reporting service to apply the first events",
        )
        stack.stop_service("reporting", state_dir=stack_dir, kill=True)
        pending_at_kill = events.redis.xpending(events.stream, GROUP)["pending"]
        half_done = applied_to_plant(reporting.primary, plant.code)
        orders = placing.result()
    committed = produced(mes_db, orders)
    total = sum(len(ids) for ids in committed.values())
    # Duplicate delivery, twice over: copies of published entries added to the stream, and rows
    # the relay marks unpublished and publishes again.
    ours = [e for e in events.since(mark) if e["subject"] in set(orders)]
    for entry in ours[: len(ours) // 3]:
        fields = events.redis.xrange(events.stream, min=entry["_entry"], max=entry["_entry"])
        events.redis.xadd(events.stream, fields[0][1])
    with psycopg.connect(mes_db, autocommit=True) as conn:
        republished = conn.execute(
            "UPDATE outbox SET published_at = NULL"
            " WHERE id IN (SELECT id FROM outbox WHERE aggregate_id = ANY(%s) LIMIT 200)",
            (orders,),
        ).rowcount
    stack.start_service("reporting", state_dir=stack_dir)

    def settled() -> bool:
        groups = {g["name"].decode(): g for g in events.redis.xinfo_groups(events.stream)}
        group = groups.get(GROUP, {})
        return (
            sum(applied(reporting.primary, orders).values()) >= total
            and group.get("pending") == 0
            and group.get("lag") == 0
        )

    wait_until(settled, timeout=180, interval=0.5, description="every event applied")

    history = History()
    for order_id, event_ids in committed.items():
        history.produced(order_id, times=len(event_ids))
    for order_id, count in applied(reporting.primary, orders).items():
        history.applied(order_id, times=count)
    verdict = check(history)
    allure.attach(
        f"{verdict.summary()}\n"
        f"orders={ORDERS} events committed={total} applied before the kill={half_done} "
        f"pending in the group at the kill={pending_at_kill} "
        f"copies added={len(ours) // 3} rows republished={republished}",
        name="delivery verdict",
        attachment_type=allure.attachment_type.TEXT,
    )
    print(
        f"delivery: {verdict.summary()}; applied before the kill {half_done}, "
        f"pending at the kill {pending_at_kill}, copies {len(ours) // 3}, republished {republished}"
    )
    assert (verdict.lost, verdict.duplicated) == (0, 0), verdict.summary()
    assert verdict.produced == total >= ORDERS
    assert half_done < total, "the consumer was killed before it had applied everything"
