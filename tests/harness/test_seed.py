"""`preflight seed` on a real PostgreSQL: counts, determinism, invariants, loading a seed twice."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from typer.testing import CliRunner

from preflight import seed, stack
from preflight.cli import app
from reference_services.mes.domain.model import Action, new_order
from reference_services.mes.domain.model import ProductionOrder as Order
from reference_services.platform.events import Envelope, validation_errors
from reference_services.platform.migrations import upgrade

AS_OF = date(2025, 3, 14)
ORDERS = 2_000
TABLE_ORDER = {
    "work_centers": "plant, code",
    "products": "plant, sku",
    "operators": "id",
    "orders": "id",
    "order_operations": "order_id, seq",
    "outbox": "id",
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[stack.StackInfo]:
    """A stack of our own: PostgreSQL primary + replica, Redis, the MES. PostgreSQL runs as
    another user, so its state sits under a directory that user can enter."""
    scratch = Path(tempfile.mkdtemp(prefix="preflight-seed-"))
    scratch.chmod(0o755)
    try:
        with stack.running(state_dir=scratch / "stack", services=["mes"]) as info:
            yield info
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture
def fresh_db(cluster: stack.StackInfo) -> str:
    return _new_mes_database(cluster)


def _new_mes_database(cluster: stack.StackInfo) -> str:
    name = f"mes_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(cluster.postgres_primary, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    dsn = cluster.database_dsn(name)
    upgrade("mes", dsn)
    return dsn


def _count(dsn: str, query: str) -> int:
    with psycopg.connect(dsn) as connection:
        row = connection.execute(query).fetchone()
    assert row is not None
    return int(row[0])


def _fingerprints(dsn: str) -> dict[str, str]:
    """md5 of every MES table's rows in key order: equal fingerprints, byte-identical data."""
    with psycopg.connect(dsn) as connection:
        return {
            table: str(
                connection.execute(
                    f"SELECT md5(string_agg(t::text, E'\\n' ORDER BY {order})) FROM {table} t"
                ).fetchone()
            )
            for table, order in TABLE_ORDER.items()
        }


def test_chunk_size_does_not_change_the_data() -> None:
    whole = seed.SyntheticPlants(7, 3, AS_OF, 1_000).chunk(0, 1_000)
    pieces = seed.SyntheticPlants(7, 3, AS_OF, 1_000)
    parts = [pieces.chunk(start, min(137, 1_000 - start)) for start in range(0, 1_000, 137)]

    for rows in ("orders", "operations", "outbox"):
        assert getattr(whole, rows) == "".join(getattr(part, rows) for part in parts)


@pytest.mark.slow
def test_seed_loads_the_counts_it_reports(fresh_db: str) -> None:
    report = seed.seed_orders(fresh_db, ORDERS, seed=42, plants=4, as_of=AS_OF)

    work_centers = sum(len(seed.work_center_codes(n)) for n in range(1, 5))
    assert report.products == _count(fresh_db, "SELECT count(*) FROM products")
    assert report.products == 4 * seed.PRODUCTS_PER_PLANT
    assert report.orders == _count(fresh_db, "SELECT count(*) FROM orders") == ORDERS
    assert report.outbox_events == _count(fresh_db, "SELECT count(*) FROM outbox") == ORDERS
    assert report.operations == _count(fresh_db, "SELECT count(*) FROM order_operations")
    assert ORDERS <= report.operations <= 5 * ORDERS
    assert report.work_centers == _count(fresh_db, "SELECT count(*) FROM work_centers")
    assert report.work_centers == work_centers
    assert report.operators == _count(fresh_db, "SELECT count(*) FROM operators")
    assert _count(fresh_db, "SELECT count(DISTINCT plant) FROM orders") == 4
    assert report.rows_per_second > 0


@pytest.mark.slow
def test_the_same_seed_gives_identical_rows(cluster: stack.StackInfo) -> None:
    first, second = _new_mes_database(cluster), _new_mes_database(cluster)

    seed.seed_orders(first, ORDERS, seed=42, plants=4, as_of=AS_OF)
    seed.seed_orders(second, ORDERS, seed=42, plants=4, as_of=AS_OF)
    other = _new_mes_database(cluster)
    seed.seed_orders(other, ORDERS, seed=43, plants=4, as_of=AS_OF)

    assert _fingerprints(first) == _fingerprints(second)
    differing = {
        table
        for table, digest in _fingerprints(other).items()
        if digest != _fingerprints(first)[table]
    }
    assert differing == {"operators", "orders", "order_operations", "outbox"}


def _replayed(status: str, held_from: str | None, version: int, steps: int, done: int) -> Order:
    """The order the MES's own domain produces for a seeded order's history: released, operators
    starting and completing operations in turn, held, cancelled."""
    order = new_order(
        order_ref="replay",
        customer_ref="C",
        sku="S",
        quantity=1,
        due_date=AS_OF,
        plant="P1",
        priority=3,
        operations=[("WC", "step", 1)] * steps,
    )
    progress = held_from or status
    if progress == "cancelled":
        if version == 3:
            order.apply(Action.RELEASE)
        order.apply(Action.CANCEL)
        return order
    if progress != "planned":
        order.apply(Action.RELEASE)
    if progress in ("in_progress", "completed"):
        for seq in range(1, (steps if progress == "completed" else done) + 1):
            order.start_operation(seq)
            order.complete_operation(seq)
        if progress == "in_progress":
            order.start_operation(done + 1)
    if status == "on_hold":
        order.apply(Action.HOLD)
    return order


@pytest.mark.slow
def test_seeded_orders_are_what_the_mes_domain_would_produce(fresh_db: str) -> None:
    seed.seed_orders(fresh_db, ORDERS, seed=5, plants=3, as_of=AS_OF)

    with psycopg.connect(fresh_db) as connection:
        orders = connection.execute(
            "SELECT o.order_ref, o.status, o.held_from, o.version, o.priority,"
            " o.created_at, o.updated_at, o.due_date,"
            " array_agg(op.seq ORDER BY op.seq), array_agg(op.status ORDER BY op.seq)"
            " FROM orders o JOIN order_operations op ON op.order_id = o.id GROUP BY o.id"
        ).fetchall()
        off_routing = connection.execute(
            "SELECT count(*) FROM orders o LEFT JOIN products p"
            " ON p.plant = o.plant AND p.sku = o.sku WHERE p.routing IS DISTINCT FROM ("
            "  SELECT jsonb_agg(jsonb_build_object('work_center', op.work_center,"
            "   'description', op.description, 'planned_minutes', op.planned_minutes)"
            "   ORDER BY op.seq) FROM order_operations op WHERE op.order_id = o.id)"
        ).fetchone()
        duplicates = connection.execute(
            "SELECT count(*) FROM (SELECT plant, order_ref FROM orders"
            " GROUP BY 1, 2 HAVING count(*) > 1) d"
        ).fetchone()
        misplaced = connection.execute(
            "SELECT count(*) FROM order_operations op JOIN orders o ON o.id = op.order_id"
            " WHERE op.plant <> o.plant"
        ).fetchone()
        events = connection.execute(
            "SELECT o.id::text, o.order_ref, o.customer_ref, o.plant, o.sku, o.quantity,"
            " o.priority, o.due_date, o.created_at, e.event_id, e.id, e.event_type,"
            " e.aggregate_type, e.payload, e.occurred_at, e.published_at"
            " FROM outbox e JOIN orders o ON o.id::text = e.aggregate_id"
        ).fetchall()

    assert len(orders) == ORDERS
    assert off_routing == (0,)
    assert duplicates == (0,)
    assert misplaced == (0,)
    history_end = datetime(AS_OF.year, AS_OF.month, AS_OF.day, tzinfo=UTC)
    statuses: dict[str, int] = {}
    for ref, status, held_from, version, priority, created, updated, due, seqs, ops in orders:
        statuses[status] = statuses.get(status, 0) + 1
        replayed = _replayed(status, held_from, version, len(seqs), ops.count("done"))
        assert (status, held_from, version) == (
            replayed.status.value,
            replayed.held_from.value if replayed.held_from else None,
            replayed.version,
        ), ref
        assert ops == [op.status.value for op in replayed.operations], ref
        assert ref.startswith("SEED-5-")
        assert seqs == list(range(1, len(seqs) + 1))
        assert 1 <= len(seqs) <= 5
        assert 1 <= priority <= 5
        assert history_end - timedelta(days=90) <= created < history_end
        assert created <= updated <= history_end
        assert (updated == created) == (version == 1)
        assert created.date() < due <= created.date() + timedelta(days=46)

    shares = {status: count / ORDERS for status, count in statuses.items()}
    assert set(shares) == {
        "planned",
        "released",
        "in_progress",
        "completed",
        "on_hold",
        "cancelled",
    }
    assert 0.2 < shares["completed"] < 0.5
    assert 0.02 < shares["on_hold"] < 0.1

    assert len(events) == ORDERS
    for (
        order_id,
        ref,
        customer,
        plant,
        sku,
        qty,
        priority,
        due,
        created,
        event_id,
        sequence,
        event_type,
        aggregate,
        payload,
        occurred,
        published,
    ) in events:
        assert (event_type, aggregate) == ("order.created", "order")
        assert payload == {
            "order_id": order_id,
            "order_ref": ref,
            "customer_ref": customer,
            "plant": plant,
            "sku": sku,
            "quantity": qty,
            "priority": priority,
            "due_date": due.isoformat(),
            "status": "planned",
            "previous_status": None,
            "version": 1,
            "created_at": created.isoformat(),
        }
        envelope = Envelope(event_id, event_type, "mes", occurred, order_id, sequence, payload)
        assert validation_errors(envelope.document()) == []
        assert occurred == created
        assert published > occurred


@pytest.mark.slow
def test_the_mes_serves_and_advances_seeded_orders(cluster: stack.StackInfo) -> None:
    dsn = cluster.database_dsn("mes")
    seed.seed_orders(dsn, 500, seed=77, as_of=AS_OF)
    with psycopg.connect(dsn) as connection:
        picked = {
            status: (str(order_id), version, held_from, ops)
            for status, order_id, version, held_from, ops in connection.execute(
                "SELECT DISTINCT ON (o.status) o.status, o.id, o.version, o.held_from,"
                " (SELECT array_agg(op.status ORDER BY op.seq) FROM order_operations op"
                "  WHERE op.order_id = o.id)"
                " FROM orders o WHERE o.order_ref LIKE 'SEED-77-%' ORDER BY o.status, o.order_ref"
            )
        }
        plant, sku, routing = connection.execute(
            "SELECT plant, sku, routing FROM products ORDER BY plant, sku LIMIT 1"
        ).fetchone() or ("", "", [])

    with httpx.Client(base_url=cluster.services["mes"], timeout=10) as mes:
        shown = {status: mes.get(f"/orders/{order[0]}") for status, order in picked.items()}
        released = mes.post(f"/orders/{picked['released'][0]}/start")
        running = picked["in_progress"][3].index("in_progress") + 1
        completed_step = mes.post(
            f"/orders/{picked['in_progress'][0]}/operations/{running}/complete"
        )
        resumed = mes.post(f"/orders/{picked['on_hold'][0]}/resume")
        cancelled_completed = mes.post(f"/orders/{picked['completed'][0]}/cancel")
        created = mes.post(
            "/orders",
            json={
                "order_ref": f"AFTER-SEED-{uuid.uuid4().hex[:8]}",
                "customer_ref": "CUST-00001",
                "sku": sku,
                "quantity": 3,
                "due_date": "2030-01-31",
                "plant": plant,
            },
        )

    for status, response in shown.items():
        assert response.status_code == 200
        body = response.json()
        assert (body["status"], body["version"]) == (status, picked[status][1])
        assert [op["status"] for op in body["operations"]] == picked[status][3]
    assert (released.status_code, released.json()["version"]) == (200, picked["released"][1] + 1)
    assert completed_step.status_code == 200
    assert completed_step.json()["version"] == picked["in_progress"][1] + 1
    assert resumed.status_code == 200
    assert resumed.json()["status"] == picked["on_hold"][2]
    assert cancelled_completed.status_code == 409
    assert created.status_code == 201, created.text
    assert [
        {k: op[k] for k in ("work_center", "description", "planned_minutes")}
        for op in created.json()["operations"]
    ] == routing


@pytest.mark.slow
def test_seeds_coexist_and_a_seed_loads_only_once(fresh_db: str) -> None:
    seed.seed_orders(fresh_db, 300, seed=1, as_of=AS_OF)
    seed.seed_orders(fresh_db, 200, seed=2, as_of=AS_OF)

    with pytest.raises(seed.AlreadySeeded, match="seed 1 is already loaded"):
        seed.seed_orders(fresh_db, 300, seed=1, as_of=AS_OF)
    again = CliRunner().invoke(app, ["seed", "--orders", "300", "--seed", "2", "--dsn", fresh_db])

    assert _count(fresh_db, "SELECT count(*) FROM orders") == 500
    assert _count(fresh_db, "SELECT count(*) FROM orders WHERE order_ref LIKE 'SEED-2-%'") == 200
    assert again.exit_code == 2
    assert "seed 2 is already loaded" in again.output
    assert len(again.output.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_role_that_is_not_superuser_seeds_with_per_row_checks(fresh_db: str) -> None:
    role = f"seeder_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(fresh_db, autocommit=True) as connection:
        connection.execute(f"CREATE ROLE {role} LOGIN")
        connection.execute(f"GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO {role}")
        connection.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}")
    parts = urlsplit(fresh_db)
    as_seeder = urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}"))

    report = seed.seed_orders(as_seeder, 300, seed=3, as_of=AS_OF)

    assert report.orders == _count(fresh_db, "SELECT count(*) FROM orders") == 300
    assert report.operations == _count(fresh_db, "SELECT count(*) FROM order_operations")


@pytest.mark.slow
def test_seed_command_reports_what_it_loaded(fresh_db: str) -> None:
    result = CliRunner().invoke(
        app, ["seed", "--orders", "500", "--seed", "9", "--plants", "2", "--dsn", fresh_db]
    )

    assert result.exit_code == 0, result.output
    assert result.output.startswith("Seeded 500 orders (")
    assert "rows/s" in result.output
    assert _count(fresh_db, "SELECT count(DISTINCT plant) FROM orders") == 2


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--orders", "0", "--dsn", "postgresql://127.0.0.1/mes"], "--orders must be"),
        (["--plants", "0", "--dsn", "postgresql://127.0.0.1/mes"], "--plants must be"),
        (["--dsn", "postgresql://db.example.com/mes"], "not on loopback"),
        (["--dsn", "mysql://127.0.0.1/mes"], "not a PostgreSQL URL"),
        (["--dsn", "postgresql://127.0.0.1/mes", "--target", "embedded"], "not both"),
        (["--target", "/nowhere/profile.toml"], "profile not found"),
        (["--as-of", "yesterday", "--dsn", "postgresql://127.0.0.1/mes"], "--as-of must be"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(arguments: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["seed", *arguments])

    assert result.exit_code == 2
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
