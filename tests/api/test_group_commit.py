"""Order writes asked for in one round of the event loop commit as one statement
(reference_services/platform/group_commit.py), and each order still gets exactly its own outcome.

These call the MES's repository on a scratch database migrated like the MES's
(fixtures/scratch_db.py), so that every order of a round is known to land in one batch: requests
over HTTP reach the write whenever their sockets are read.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date
from typing import Any, TypeVar

import orjson
import psycopg
import pytest
from opentelemetry.sdk.trace import TracerProvider

from preflight.stack import asyncpg_url
from reference_services.mes.adapters import orders_repository
from reference_services.mes.adapters.orders_repository import MissingReference
from reference_services.mes.domain.model import ProductionOrder, new_order
from reference_services.mes.service_layer.unit_of_work import order_events
from reference_services.platform import idempotency
from reference_services.platform.db import Database
from reference_services.platform.group_commit import GroupCommit

PLANT = "GC1"
WORK_CENTERS = ("GC-CNC", "GC-QA")
T = TypeVar("T")


@pytest.fixture(scope="module")
def orders_db(scratch_mes_db: str) -> str:
    with psycopg.connect(scratch_mes_db) as conn:
        for code in WORK_CENTERS:
            conn.execute(
                "INSERT INTO work_centers (plant, code, name) VALUES (%s, %s, %s)",
                (PLANT, code, code),
            )
    return scratch_mes_db


@asynccontextmanager
async def database(dsn: str) -> AsyncIterator[Database]:
    db = Database(asyncpg_url(dsn), pool_size=4)
    try:
        yield db
    finally:
        await db.dispose()


def an_order(
    ref: str | None = None, work_center: str = WORK_CENTERS[0], plant: str = PLANT
) -> ProductionOrder:
    return new_order(
        order_ref=ref or f"GC-{uuid.uuid4().hex[:12]}",
        customer_ref="CUST-1",
        sku="GC-PART",
        quantity=3,
        due_date=date(2031, 1, 31),
        plant=plant,
        priority=2,
        operations=[(work_center, "Mill", 30), (WORK_CENTERS[1], "Inspect", 5)],
    )


def group(db: Database) -> GroupCommit:
    return db.group_commit(orders_repository._CREATE_ORDERS)


async def create(db: Database, order: ProductionOrder, claim: Any = None) -> int | None:
    completion = (claim, 201, {"id": str(order.id)}) if claim is not None else None
    return await orders_repository.create_order(db, order, order_events(order), completion)


async def outcomes(calls: list[Awaitable[T]]) -> list[T | BaseException]:
    return await asyncio.gather(*calls, return_exceptions=True)


def run(scenario: Callable[[Database], Awaitable[T]], dsn: str) -> T:
    async def with_db() -> T:
        async with database(dsn) as db:
            return await scenario(db)

    return asyncio.run(with_db())


def stored(dsn: str, orders: list[ProductionOrder]) -> dict[str, Any]:
    """Per order id: its row's ref, its operations' count and its outbox ids."""
    ids = [order.id for order in orders]
    with psycopg.connect(dsn) as conn:
        refs = dict(conn.execute("SELECT id, order_ref FROM orders WHERE id = ANY(%s)", (ids,)))
        operations = dict(
            conn.execute(
                "SELECT order_id, count(*) FROM order_operations WHERE order_id = ANY(%s)"
                " GROUP BY order_id",
                (ids,),
            )
        )
        events = conn.execute(
            "SELECT aggregate_id, id FROM outbox WHERE aggregate_id = ANY(%s) ORDER BY id",
            ([str(i) for i in ids],),
        ).fetchall()
    return {
        "refs": {str(k): v for k, v in refs.items()},
        "operations": {str(k): v for k, v in operations.items()},
        "events": [(aggregate, int(id_)) for aggregate, id_ in events],
    }


def test_orders_asked_for_in_one_round_commit_in_one_statement_each_with_its_rows(
    orders_db: str,
) -> None:
    orders = [an_order() for _ in range(20)]

    async def scenario(db: Database) -> tuple[list[int | None], int]:
        lsns = await asyncio.gather(*(create(db, order) for order in orders))
        return lsns, group(db).batches

    lsns, statements = run(scenario, orders_db)

    assert statements == 1
    assert all(isinstance(lsn, int) and lsn > 0 for lsn in lsns)
    rows = stored(orders_db, orders)
    assert rows["refs"] == {str(order.id): order.order_ref for order in orders}
    assert rows["operations"] == {str(order.id): 2 for order in orders}
    # one event each, with ids in the order the writes were asked for
    assert [aggregate for aggregate, _ in rows["events"]] == [str(order.id) for order in orders]


def test_a_taken_order_ref_writes_nothing_even_when_its_twin_is_in_the_same_batch(
    orders_db: str,
) -> None:
    ref = f"GC-TWIN-{uuid.uuid4().hex[:8]}"
    first, twin, other = an_order(ref), an_order(ref), an_order()

    async def scenario(db: Database) -> tuple[list[int | None], int]:
        lsns = await asyncio.gather(create(db, first), create(db, twin), create(db, other))
        return lsns, group(db).batches

    (first_lsn, twin_lsn, other_lsn), statements = run(scenario, orders_db)

    assert statements == 1
    assert first_lsn is not None
    assert other_lsn is not None
    assert twin_lsn is None
    rows = stored(orders_db, [first, twin, other])
    assert set(rows["refs"]) == {str(first.id), str(other.id)}
    assert str(twin.id) not in rows["operations"]
    assert [aggregate for aggregate, _ in rows["events"]] == [str(first.id), str(other.id)]


def test_an_order_the_database_refuses_fails_alone_and_the_rest_of_its_batch_commits(
    orders_db: str,
) -> None:
    good = [an_order() for _ in range(4)]
    bad = an_order(work_center="GC-NOWHERE")
    asked = [good[0], good[1], bad, good[2], good[3]]

    async def scenario(db: Database) -> tuple[list[int | BaseException | None], int]:
        results = await outcomes([create(db, order) for order in asked])
        return results, group(db).batches

    results, statements = run(scenario, orders_db)

    assert isinstance(results[2], MissingReference)
    assert all(isinstance(result, int) for n, result in enumerate(results) if n != 2)
    assert statements == 1 + len(asked)  # the batch, then each order on its own
    rows = stored(orders_db, asked)
    assert set(rows["refs"]) == {str(order.id) for order in good}
    assert len(rows["events"]) == len(good)


def test_each_idempotency_key_in_a_batch_stores_its_own_response_and_no_other(
    orders_db: str,
) -> None:
    keyed, unkeyed = [an_order(), an_order()], an_order()
    scope = f"POST /orders gc-{uuid.uuid4().hex[:8]}"

    async def scenario(db: Database) -> int:
        claims = [
            await idempotency.claim(db, scope, f"key-{n}", f"hash-{n}") for n in range(len(keyed))
        ]
        results = await asyncio.gather(
            create(db, keyed[0], claims[0]), create(db, unkeyed), create(db, keyed[1], claims[1])
        )
        assert all(result is not None for result in results)
        return group(db).batches

    assert run(scenario, orders_db) == 1
    with psycopg.connect(orders_db) as conn:
        keys = conn.execute(
            "SELECT key, state, response_status, response_body::text FROM idempotency_keys"
            " WHERE scope = %s ORDER BY key",
            (scope,),
        ).fetchall()
    assert [(key, state, status) for key, state, status, _ in keys] == [
        ("key-0", "done", 201),
        ("key-1", "done", 201),
    ]
    assert [orjson.loads(body) for *_, body in keys] == [
        {"id": str(keyed[0].id)},
        {"id": str(keyed[1].id)},
    ]


def test_a_write_inside_a_recorded_span_is_a_statement_of_its_own(orders_db: str) -> None:
    tracer = TracerProvider().get_tracer("test_group_commit")
    orders = [an_order() for _ in range(3)]

    async def traced(db: Database, order: ProductionOrder) -> int | None:
        with tracer.start_as_current_span("POST /orders"):
            return await create(db, order)

    async def scenario(db: Database) -> int:
        await asyncio.gather(*(traced(db, order) for order in orders))
        return group(db).batches

    assert run(scenario, orders_db) == len(orders)
    assert set(stored(orders_db, orders)["refs"]) == {str(order.id) for order in orders}


def test_a_request_that_goes_away_does_not_take_its_batch_with_it(orders_db: str) -> None:
    leaving, staying = an_order(), an_order()

    async def scenario(db: Database) -> int | None:
        gone = asyncio.ensure_future(create(db, leaving))
        kept = asyncio.ensure_future(create(db, staying))
        await asyncio.sleep(0)  # both have asked for their write
        gone.cancel()
        return await kept

    assert run(scenario, orders_db) is not None
    # The order that went away was asked for before it left: it is written (as when a request
    # goes away during its own statement); the other is written and answered.
    assert set(stored(orders_db, [leaving, staying])["refs"]) == {str(leaving.id), str(staying.id)}


SLOW_PLANT = "GC-SLOW"
SLOW_INSERT_S = 0.5


@pytest.fixture(scope="module")
def slow_orders_db(orders_db: str) -> str:
    """Each order of SLOW_PLANT waits SLOW_INSERT_S before its row goes in: two batches that
    start together then interleave row by row."""
    with psycopg.connect(orders_db) as conn:
        for code in WORK_CENTERS:
            conn.execute(
                "INSERT INTO work_centers (plant, code, name) VALUES (%s, %s, %s)",
                (SLOW_PLANT, code, code),
            )
        conn.execute(
            f"""
            CREATE FUNCTION gc_slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.plant = '{SLOW_PLANT}' THEN PERFORM pg_sleep({SLOW_INSERT_S}); END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER gc_slow_insert BEFORE INSERT ON orders
                FOR EACH ROW EXECUTE FUNCTION gc_slow_insert();
            """
        )
    return orders_db


def test_two_batches_with_the_same_refs_in_opposite_orders_do_not_deadlock(
    slow_orders_db: str,
) -> None:
    first_ref, second_ref = (f"GC-CROSS-{uuid.uuid4().hex[:8]}-{n}" for n in (1, 2))

    def slow(ref: str) -> ProductionOrder:
        return an_order(ref, plant=SLOW_PLANT)

    one = [slow(first_ref), slow(second_ref)]
    other = [slow(second_ref), slow(first_ref)]

    async def scenario() -> tuple[list[int | BaseException | None], int]:
        async with database(slow_orders_db) as db1, database(slow_orders_db) as db2:
            results = await outcomes(
                [create(db1, order) for order in one] + [create(db2, order) for order in other]
            )
            return results, group(db1).batches + group(db2).batches

    results, statements = asyncio.run(scenario())

    assert not [result for result in results if isinstance(result, BaseException)]
    # Had the rows gone in as asked, each batch would hold one ref the other waits for: a
    # deadlock, its victim's rows written again one by one (two more statements).
    assert statements == 2
    written = stored(slow_orders_db, one + other)["refs"]
    assert sorted(written.values()) == sorted([first_ref, second_ref])
    winners = {
        str(order.id)
        for order, result in zip(one + other, results, strict=True)
        if result is not None
    }
    assert winners == set(written)
