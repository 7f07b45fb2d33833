"""Read-your-writes across the replica, and the order cache staying true to the database."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest

from fixtures.mes import MesFactory, Plant
from preflight.clients.mes import MesClient
from preflight.expect import expect_problem, expect_status
from preflight.targets import Target
from preflight.waits import wait_until


@pytest.fixture
def paused_replica(mes_replica_db: str, target: Target) -> Iterator[None]:
    """The MES replica stops replaying WAL for the test (a deterministic replica lag)."""
    if not target.allow_destructive:
        pytest.skip("pauses replication: only on a stack Preflight started itself")
    with psycopg.connect(mes_replica_db, autocommit=True) as replica:
        replica.execute("SELECT pg_wal_replay_pause()")
        try:
            yield
        finally:
            replica.execute("SELECT pg_wal_replay_resume()")


@pytest.mark.needs_db
def test_a_client_reads_its_own_writes_while_the_replica_lags(
    mes: MesClient, mes_factory: MesFactory, plant: Plant, paused_replica: None
) -> None:
    order = mes_factory.create_order(plant)
    released = expect_status(mes.transition(order["id"], "release"), 200)

    assert expect_status(mes.get_order(order["id"]), 200) == released
    assert [o["id"] for o in mes.iter_orders(plant=plant.code)] == [order["id"]]
    # The same listing without the client's commit position is served by the paused replica.
    assert expect_status(mes.http.get("/orders", params={"plant": plant.code}), 200)["items"] == []


def test_orders_written_together_are_each_read_at_their_own_commit_position(
    mes: MesClient, mes_factory: MesFactory, plant: Plant, stranger: MesClient
) -> None:
    # Writes that complete together share the query that reads their commit LSN: the position
    # each one reports must still cover its own write, on whichever node serves the read.
    orders = [mes_factory.build_order(plant) for _ in range(12)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        created = list(pool.map(mes.create_order, orders))

    for response in created:
        order = expect_status(response, 201)
        lsn = response.headers["X-Commit-LSN"]
        assert (
            expect_status(stranger.get_order(order["id"], headers={"X-Min-LSN": lsn}), 200) == order
        )


def test_a_malformed_min_lsn_is_refused(
    mes: MesClient, mes_factory: MesFactory, plant: Plant
) -> None:
    order = mes_factory.create_order(plant)
    expect_problem(
        mes.get_order(order["id"], headers={"X-Min-LSN": "yesterday"}), 422, "validation-error"
    )


@pytest.fixture
def stranger(target: Target, run_id: str) -> Iterator[MesClient]:
    """A reader that knows no commit position: it reads whatever the replica or cache has."""
    with MesClient(target.url("mes"), headers=target.headers, run_id=run_id) as client:
        yield client


def first_found(reader: MesClient, order_id: str) -> httpx.Response:
    """The reader's first successful read of the order (the replica may not have it yet)."""
    return wait_until(
        lambda: (r := reader.get_order(order_id)).status_code == 200 and r,
        timeout=10,
        description=f"order {order_id} to reach the replica",
    )


def test_a_repeated_read_is_served_from_the_cache(
    mes_factory: MesFactory, plant: Plant, stranger: MesClient
) -> None:
    order = mes_factory.create_order(plant)

    first = first_found(stranger, order["id"])
    second = stranger.get_order(order["id"])

    assert first.headers["x-cache"] == "miss"
    assert second.headers["x-cache"] == "hit"
    assert expect_status(second, 200) == expect_status(first, 200) == order


@pytest.mark.needs_db
def test_a_reader_without_the_commit_position_sees_an_acknowledged_change_while_the_replica_lags(
    mes: MesClient, mes_factory: MesFactory, plant: Plant, stranger: MesClient, paused_replica: None
) -> None:
    # The change's tombstone tells the reader how far its read must reach: the paused replica is
    # behind it, so the read goes to the primary, and what it read is cached.
    order = mes_factory.create_order(plant)
    released = expect_status(mes.transition(order["id"], "release"), 200)

    first = stranger.get_order(order["id"])
    second = stranger.get_order(order["id"])

    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
    assert expect_status(first, 200) == expect_status(second, 200) == released


@pytest.mark.parametrize("change", ["transition", "update"])
def test_a_change_invalidates_the_cached_order(
    mes: MesClient, mes_factory: MesFactory, plant: Plant, stranger: MesClient, change: str
) -> None:
    order = mes_factory.create_order(plant)
    first_found(stranger, order["id"])
    assert stranger.get_order(order["id"]).headers["x-cache"] == "hit"

    if change == "transition":
        changed = expect_status(mes.transition(order["id"], "release"), 200)
    else:
        changed = expect_status(
            mes.update_order(order["id"], {"priority": 1 if order["priority"] != 1 else 2}), 200
        )

    # The writer reads its change at once; the old entry is never served again.
    after = mes.get_order(order["id"])
    assert after.headers["x-cache"] == "miss"
    assert expect_status(after, 200) == changed
    # A reader unaware of the change sees it once the replica has it, then from the cache again.
    wait_until(
        lambda: stranger.get_order(order["id"]).json() == changed,
        timeout=10,
        description="a reader without the commit position to see the change",
    )
    again = stranger.get_order(order["id"])
    assert again.headers["x-cache"] == "hit"
    assert again.json() == changed
