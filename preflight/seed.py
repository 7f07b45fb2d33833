"""Deterministic synthetic MES data, loaded straight into the MES database with COPY.

`seed_orders` writes plants' work centers, operators and planners, production orders with their
operations, and one already-published `order.created` outbox event per order, in one transaction
on the primary, then runs ANALYZE. The same (seed, orders, plants, as_of) always gives
byte-identical rows: Faker is called only to fill small pools of names and references, and a
seeded `random.Random` combines them.

Orders are tagged `SEED-<seed>-<n>` so data sets of different seeds coexist in one database.
Loading a seed that is already present is refused (`AlreadySeeded`; `preflight seed` exits 2):
use another seed or a fresh database.
"""

from __future__ import annotations

import ipaddress
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Final, NoReturn
from urllib.parse import urlsplit

import orjson
import psycopg
import typer
from faker import Faker
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from preflight.verdict import ExitCode

REF_PREFIX: Final = "SEED"
HISTORY_DAYS: Final = 90
CHUNK_ORDERS: Final = 5_000
MAX_ORDERS: Final = 10_000_000
MAX_PLANTS: Final = 99
MES_TABLES: Final = (
    "work_centers",
    "operators",
    "products",
    "orders",
    "order_operations",
    "outbox",
)
PRODUCTS_PER_PLANT: Final = 250
LOOPBACK_NAMES: Final = frozenset({"localhost", "127.0.0.1", "::1", ""})

ProgressCallback = Callable[[int], None]
Connection = psycopg.Connection[tuple[Any, ...]]

_DAY_US: Final = 86_400_000_000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class SeedError(Exception):
    """The data could not be seeded: bad arguments, no MES schema, seed already loaded."""


class AlreadySeeded(SeedError):
    """The database already holds orders of this seed."""


@dataclass(frozen=True)
class SeedReport:
    seed: int
    plants: int
    orders: int
    operations: int
    outbox_events: int
    work_centers: int
    products: int
    operators: int
    elapsed_seconds: float
    ref_prefix: str

    @property
    def rows(self) -> int:
        return sum(
            (
                self.orders,
                self.operations,
                self.outbox_events,
                self.work_centers,
                self.products,
                self.operators,
            )
        )

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0


@dataclass(frozen=True)
class WorkCenterKind:
    prefix: str
    title: str
    stage: int
    steps: tuple[str, ...]
    minutes: tuple[int, int]


KINDS: Final = {
    kind.prefix: kind
    for kind in (
        WorkCenterKind("SAW", "Band saw", 0, ("Cut bar stock", "Cut plate blank"), (5, 30)),
        WorkCenterKind(
            "CNC",
            "CNC machining centre",
            1,
            ("Rough mill pockets", "Finish mill faces", "Drill and tap holes", "Mill housing"),
            (20, 240),
        ),
        WorkCenterKind(
            "LATHE",
            "CNC lathe",
            1,
            ("Rough turn", "Finish turn", "Cut thread", "Bore and face"),
            (15, 180),
        ),
        WorkCenterKind("DEBUR", "Deburring station", 2, ("Deburr edges", "Tumble"), (5, 45)),
        WorkCenterKind(
            "WELD",
            "Welding cell",
            2,
            ("Tack weld brackets", "Weld frame", "Grind welds"),
            (20, 200),
        ),
        WorkCenterKind(
            "ASSY",
            "Assembly line",
            3,
            ("Fit bearings", "Assemble subassembly", "Final assembly", "Torque fasteners"),
            (15, 300),
        ),
        WorkCenterKind("PAINT", "Paint booth", 4, ("Prime", "Powder coat", "Top coat"), (20, 120)),
        WorkCenterKind(
            "QA",
            "Quality inspection",
            5,
            ("Dimensional inspection", "Pressure test", "Final inspection"),
            (10, 90),
        ),
        WorkCenterKind("PACK", "Packing station", 6, ("Pack and label",), (5, 30)),
    )
}
BASE_WORK_CENTERS: Final = (
    "SAW-01",
    "CNC-01",
    "CNC-02",
    "LATHE-01",
    "WELD-01",
    "ASSY-01",
    "PAINT-01",
    "QA-01",
    "PACK-01",
)

# status weights for orders created in the newest, middle and oldest third of the history
_STATUSES: Final = ("planned", "released", "in_progress", "completed", "on_hold", "cancelled")
_STATUS_WEIGHTS: Final = ((40, 25, 18, 7, 4, 6), (15, 20, 25, 30, 5, 5), (5, 7, 13, 65, 4, 6))
_HELD_FROM: Final = ("planned", "released", "released", "in_progress", "in_progress")
_PRIORITIES: Final = (1,) * 5 + (2,) * 15 + (3,) * 50 + (4,) * 20 + (5,) * 10
_QUANTITIES: Final = (1, 2, 4, 5, 8, 10, 10, 12, 20, 24, 25, 50, 50, 100, 100, 200, 250, 500, 1000)
_OPERATION_COUNTS: Final = (1,) * 15 + (2,) * 25 + (3,) * 30 + (4,) * 20 + (5,) * 10
_SKU_TITLES: Final = {
    "BRKT": "Bracket",
    "SHAFT": "Drive shaft",
    "HSG": "Gearbox housing",
    "VALVE": "Valve body",
    "PUMP": "Pump assembly",
    "GEAR": "Spur gear",
    "FLNG": "Flange",
    "COVER": "Cover plate",
    "FRAME": "Welded frame",
}
_SKU_FAMILIES: Final = tuple(_SKU_TITLES)
_SKU_LETTERS: Final = "ABCDEFGHJKLMNPRSTUVWXYZ"

ORDER_COLUMNS: Final = (
    "id, plant, order_ref, customer_ref, sku, quantity, due_date, priority, status, held_from,"
    " version, created_at, updated_at"
)
OPERATION_COLUMNS: Final = "order_id, seq, plant, work_center, description, planned_minutes, status"
OPERATOR_COLUMNS: Final = "id, name, plant, work_center, role, created_at"
FOREIGN_KEY_CHECKS: Final = {
    "operations without their order": (
        "SELECT count(*) FROM order_operations op"
        " WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = op.order_id)"
    ),
    "operations on an unknown work center": (
        "SELECT count(*) FROM order_operations op WHERE NOT EXISTS"
        " (SELECT 1 FROM work_centers w WHERE w.plant = op.plant AND w.code = op.work_center)"
    ),
    "operators on an unknown work center": (
        "SELECT count(*) FROM operators op WHERE op.work_center IS NOT NULL AND NOT EXISTS"
        " (SELECT 1 FROM work_centers w WHERE w.plant = op.plant AND w.code = op.work_center)"
    ),
}
OUTBOX_COLUMNS: Final = (
    "event_id, event_type, aggregate_type, aggregate_id, payload, occurred_at, published_at"
)


def plant_codes(plants: int) -> list[str]:
    return [f"P{n}" for n in range(1, plants + 1)]


def work_center_codes(plant_number: int) -> list[str]:
    """The work centers of plant `P<plant_number>`: the same in every seed, in routing order."""
    extras = []
    if plant_number % 2 == 1:
        extras.append("CNC-03")
    if plant_number % 3 != 0:
        extras.append("LATHE-02")
    if plant_number % 2 == 0:
        extras.append("DEBUR-01")
    if plant_number % 4 in (1, 2):
        extras.append("ASSY-02")
    codes = [*BASE_WORK_CENTERS, *extras]
    return sorted(codes, key=lambda code: (KINDS[code.split("-")[0]].stage, code))


def work_center_name(code: str) -> str:
    prefix, number = code.split("-")
    return f"{KINDS[prefix].title} {int(number)}"


def ref_prefix(seed: int) -> str:
    return f"{REF_PREFIX}-{seed}-"


def seed_orders(
    dsn: str,
    orders: int,
    seed: int = 42,
    plants: int = 4,
    *,
    as_of: date | None = None,
    progress: ProgressCallback | None = None,
) -> SeedReport:
    """Load `orders` synthetic orders of `seed` into the MES database at `dsn` (libpq URL).

    as_of: the day the history ends (default: today, UTC); created_at spans the 90 days before it
    and due dates lie around it. progress is called with the number of orders loaded so far.
    """
    check_arguments(orders, seed, plants)
    began = time.perf_counter()
    data = SyntheticPlants(seed, plants, as_of or datetime.now(UTC).date(), orders)
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as connection:
        _check_schema(connection)
        checked_in_bulk = _skip_row_triggers(connection)
        with connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(hashtext('preflight.seed'))")
            _refuse_loaded_seed(connection, seed)
            work_center_count = _insert_work_centers(connection, data.work_center_rows())
            product_count = _insert_products(connection, data.product_rows())
            if checked_in_bulk:
                _lock_work_centers(connection, data.plants)
            operator_rows = data.operator_rows()
            _copy(connection, "operators", OPERATOR_COLUMNS, ["".join(operator_rows)])
            loaded = operations = 0
            for chunk in _generated_ahead(data, orders):
                _copy(connection, "orders", ORDER_COLUMNS, [chunk.orders])
                _copy(connection, "order_operations", OPERATION_COLUMNS, [chunk.operations])
                _copy(connection, "outbox", OUTBOX_COLUMNS, [chunk.outbox])
                loaded += chunk.count
                operations += chunk.operation_count
                if progress is not None:
                    progress(loaded)
            if checked_in_bulk:
                _check_foreign_keys(connection)
        connection.execute("ANALYZE " + ", ".join(MES_TABLES))
    return SeedReport(
        seed=seed,
        plants=plants,
        orders=orders,
        operations=operations,
        outbox_events=orders,
        work_centers=work_center_count,
        products=product_count,
        operators=len(operator_rows),
        elapsed_seconds=time.perf_counter() - began,
        ref_prefix=ref_prefix(seed),
    )


def check_arguments(orders: int, seed: int, plants: int) -> None:
    if not 1 <= orders <= MAX_ORDERS:
        raise SeedError(f"--orders must be between 1 and {MAX_ORDERS:,}, not {orders}")
    if seed < 0:
        raise SeedError(f"--seed must be zero or positive, not {seed}")
    if not 1 <= plants <= MAX_PLANTS:
        raise SeedError(f"--plants must be between 1 and {MAX_PLANTS}, not {plants}")


def _check_schema(connection: Connection) -> None:
    missing = [
        table
        for table in MES_TABLES
        if connection.execute("SELECT to_regclass(%s)", (table,)).fetchone() in (None, (None,))
    ]
    if missing:
        name = connection.info.dbname
        raise SeedError(
            f"database {name!r} has no MES schema (missing {', '.join(missing)}): "
            "point at the MES database and run its migrations first"
        )


def _skip_row_triggers(connection: Connection) -> bool:
    """Turn off per-row foreign-key triggers for this session, if the role may (superuser).

    Checking each of hundreds of thousands of rows through its trigger costs more than half of
    the load; `_check_foreign_keys` checks the same constraints once, set-wise, before commit,
    and `_lock_work_centers` takes the row locks the triggers would have taken.
    """
    try:
        connection.execute("SET session_replication_role = replica")
    except psycopg.errors.InsufficientPrivilege:
        return False
    return True


def _lock_work_centers(connection: Connection, plants: list[str]) -> None:
    connection.execute("SELECT 1 FROM work_centers WHERE plant = ANY(%s) FOR KEY SHARE", (plants,))


def _check_foreign_keys(connection: Connection) -> None:
    for what, query in FOREIGN_KEY_CHECKS.items():
        row = connection.execute(query).fetchone()
        broken = int(row[0]) if row is not None else 0
        if broken:
            raise SeedError(f"seeding would break a foreign key: {broken} {what}")


def _refuse_loaded_seed(connection: Connection, seed: int) -> None:
    row = connection.execute(
        "SELECT count(*) FROM orders WHERE order_ref LIKE %s", (ref_prefix(seed) + "%",)
    ).fetchone()
    present = int(row[0]) if row is not None else 0
    if present:
        raise AlreadySeeded(
            f"seed {seed} is already loaded in database {connection.info.dbname!r} "
            f"({present:,} orders {ref_prefix(seed)}*): use another --seed or a fresh database"
        )


def _insert_work_centers(connection: Connection, rows: list[tuple[str, str, str, datetime]]) -> int:
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO work_centers (plant, code, name, created_at) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (plant, code) DO NOTHING",
            rows,
        )
        return max(cursor.rowcount, 0)


def _insert_products(
    connection: Connection, rows: list[tuple[str, str, str, str, datetime]]
) -> int:
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO products (plant, sku, name, routing, created_at)"
            " VALUES (%s, %s, %s, %s::jsonb, %s) ON CONFLICT (plant, sku) DO NOTHING",
            rows,
        )
        return max(cursor.rowcount, 0)


def _copy(
    connection: Connection,
    table: str,
    columns: str,
    blocks: Sequence[str],
) -> None:
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for block in blocks:
            copy.write(block.encode())


@dataclass(frozen=True)
class Chunk:
    """COPY text-format rows of a run of consecutive orders."""

    count: int
    operation_count: int
    orders: str
    operations: str
    outbox: str


def _generated_ahead(data: SyntheticPlants, orders: int) -> Iterator[Chunk]:
    """Chunks generated by a background thread, one ahead of the COPY that consumes them:
    the generator's Python work overlaps PostgreSQL's, and the order of the data is unchanged."""
    ready: queue.Queue[Chunk | BaseException | None] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def produce() -> None:
        try:
            start = 0
            while start < orders and not stop.is_set():
                count = min(CHUNK_ORDERS, orders - start)
                ready.put(data.chunk(start, count))
                start += count
            ready.put(None)
        except BaseException as error:
            ready.put(error)

    producer = threading.Thread(target=produce, name="seed-generator", daemon=True)
    producer.start()
    try:
        while True:
            item = ready.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while producer.is_alive():
            try:
                ready.get(timeout=0.1)
            except queue.Empty:
                continue
        producer.join()


@dataclass(frozen=True)
class Product:
    plant: str
    sku: str
    name: str
    routing: tuple[tuple[str, str, int], ...]
    operations: tuple[str, ...]
    """Per routing step, the COPY text of an operation row between order_id and status."""


class SyntheticPlants:
    """The data of one seed. Rows come out as COPY text format; every value is deterministic.

    Work centers and products depend only on the plant, so data sets of different seeds share
    them; operators and orders depend on the seed.
    """

    def __init__(self, seed: int, plants: int, as_of: date, orders: int) -> None:
        self.seed = seed
        self.orders = orders
        self.digits = max(6, len(str(orders)))
        self.plants = plant_codes(plants)
        self.prefix = ref_prefix(seed)
        self.end_us = _microseconds(datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC))
        self.random = random.Random(f"preflight-seed:{seed}")
        fake = Faker("en_US")
        fake.seed_instance(seed)
        self.names = [fake.name() for _ in range(600)]
        self.customers = sorted({f"CUST-{fake.numerify('#####')}" for _ in range(800)})
        self.centers = {
            plant: [(code, KINDS[code.split("-")[0]]) for code in work_center_codes(number)]
            for number, plant in enumerate(self.plants, start=1)
        }
        self.products = {
            plant: plant_products(plant, centers) for plant, centers in self.centers.items()
        }

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.random.getrandbits(128), version=4))

    def work_center_rows(self) -> list[tuple[str, str, str, datetime]]:
        created = _timestamp(self.end_us - 180 * _DAY_US)
        return [
            (plant, code, work_center_name(code), created)
            for plant, centers in self.centers.items()
            for code, _ in centers
        ]

    def product_rows(self) -> list[tuple[str, str, str, str, datetime]]:
        created = _timestamp(self.end_us - 150 * _DAY_US)
        return [
            (
                product.plant,
                product.sku,
                product.name,
                orjson.dumps(
                    [
                        {"work_center": code, "description": text, "planned_minutes": minutes}
                        for code, text, minutes in product.routing
                    ]
                ).decode(),
                created,
            )
            for products in self.products.values()
            for product in products
        ]

    def operator_rows(self) -> list[str]:
        rng = self.random
        rows = []
        for plant, centers in self.centers.items():
            people: list[tuple[str | None, str]] = [
                (code, "operator") for code, _ in centers for _ in range(2)
            ]
            people += [(None, "planner")] * 3
            for work_center, role in people:
                created = self.end_us - HISTORY_DAYS * _DAY_US - rng.randrange(60 * _DAY_US)
                rows.append(
                    _line(
                        self.uuid(),
                        rng.choice(self.names),
                        plant,
                        work_center,
                        role,
                        _timestamp_text(created),
                    )
                )
        return rows

    def chunk(self, start: int, count: int) -> Chunk:
        rng = self.random
        r = rng.random
        getrandbits = rng.getrandbits
        plants, products_of, customers = self.plants, self.products, self.customers
        window = HISTORY_DAYS * _DAY_US
        digits = self.digits
        order_lines: list[str] = []
        operation_lines: list[str] = []
        outbox_lines: list[str] = []
        for number in range(start + 1, start + count + 1):
            order_id = str(uuid.UUID(int=getrandbits(128), version=4))
            event_id = str(uuid.UUID(int=getrandbits(128), version=4))
            plant = plants[int(r() * len(plants))]
            products = products_of[plant]
            product = products[int(r() * len(products))]
            order_ref = f"{self.prefix}{number:0{digits}d}"
            customer = customers[int(r() * len(customers))]
            quantity = _QUANTITIES[int(r() * len(_QUANTITIES))]
            priority = _PRIORITIES[int(r() * len(_PRIORITIES))]
            # order n is created in the n-th of `orders` equal slices of the history
            age_us = int((self.orders - number + r()) * window / self.orders)
            created_us = self.end_us - age_us
            status = rng.choices(_STATUSES, _STATUS_WEIGHTS[min(age_us * 3 // window, 2)])[0]
            steps = len(product.operations)
            held_from = None
            if status == "on_hold":
                held_from = _HELD_FROM[int(r() * len(_HELD_FROM))]
            progress = held_from or status
            # operations done before the one in progress (in_progress), or all of them
            done = int(r() * steps) if progress == "in_progress" else steps
            version = _version(progress, done)
            if status == "on_hold":
                version += 1
            elif status == "cancelled":
                version = 2 if r() < 0.6 else 3
            updated_us = created_us + int(r() * age_us) if version > 1 else created_us
            created = _timestamp_text(created_us)
            due = (_EPOCH + timedelta(microseconds=created_us, days=5 + int(r() * 41))).date()
            due_text = due.isoformat()
            order_lines.append(
                f"{order_id}\t{plant}\t{order_ref}\t{customer}\t{product.sku}\t{quantity}\t"
                f"{due_text}\t{priority}\t{status}\t{held_from or _NULL}\t{version}\t{created}\t"
                f"{_timestamp_text(updated_us)}\n"
            )
            for seq, operation in enumerate(product.operations, start=1):
                if progress == "completed" or (progress == "in_progress" and seq <= done):
                    state = "done"
                elif progress == "in_progress" and seq == done + 1:
                    state = "in_progress"
                else:
                    state = "pending"
                operation_lines.append(f"{order_id}{operation}{state}\n")
            payload = orjson.dumps(
                {
                    "order_id": order_id,
                    "order_ref": order_ref,
                    "customer_ref": customer,
                    "plant": plant,
                    "sku": product.sku,
                    "quantity": quantity,
                    "priority": priority,
                    "due_date": due_text,
                    "status": "planned",
                    "previous_status": None,
                    "version": 1,
                    "created_at": created,
                }
            ).decode()
            published = _timestamp_text(created_us + 20_000 + int(r() * 1_500_000))
            outbox_lines.append(
                f"{event_id}\torder.created\torder\t{order_id}\t{_copy_text(payload)}\t"
                f"{created}\t{published}\n"
            )
        return Chunk(
            count=count,
            operation_count=len(operation_lines),
            orders="".join(order_lines),
            operations="".join(operation_lines),
            outbox="".join(outbox_lines),
        )


def plant_products(plant: str, centers: list[tuple[str, WorkCenterKind]]) -> list[Product]:
    """The product catalog of a plant: SKUs and routings through its work centers, the same in
    every seed (drawn from a generator seeded by the plant alone)."""
    rng = random.Random(f"preflight-products:{plant}")
    skus: set[str] = set()
    while len(skus) < PRODUCTS_PER_PLANT:
        family = rng.choice(_SKU_FAMILIES)
        skus.add(f"{family}-{rng.randrange(1000, 10000)}-{''.join(rng.sample(_SKU_LETTERS, 2))}")
    products = []
    for sku in sorted(skus):
        picked = sorted(rng.sample(range(len(centers)), rng.choice(_OPERATION_COUNTS)))
        routing = []
        for index in picked:
            code, kind = centers[index]
            low, high = kind.minutes
            routing.append((code, rng.choice(kind.steps), rng.randrange(low, high + 1)))
        family, number, _ = sku.split("-")
        products.append(
            Product(
                plant=plant,
                sku=sku,
                name=f"{_SKU_TITLES[family]} {number}",
                routing=tuple(routing),
                operations=tuple(
                    f"\t{seq}\t{plant}\t{code}\t{_copy_text(text)}\t{minutes}\t"
                    for seq, (code, text, minutes) in enumerate(routing, start=1)
                ),
            )
        )
    return products


def _version(progress: str, done: int) -> int:
    """The version an order reaches through the MES's own transitions: release (+1), then
    operators start (+1, the first one with the order) and complete (+1) each operation; the
    last completion completes the order."""
    if progress == "planned":
        return 1
    if progress == "released":
        return 2
    return 3 + 2 * done - (1 if progress == "completed" else 0)


_NULL: Final = "\\N"


def _line(*values: str | None) -> str:
    return "\t".join(_NULL if value is None else _copy_text(value) for value in values) + "\n"


def _copy_text(value: str) -> str:
    """Escape a value for COPY's text format."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = (value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")).replace(
            "\r", "\\r"
        )
    return value


def _microseconds(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _timestamp(microseconds: int) -> datetime:
    return _EPOCH + timedelta(microseconds=microseconds)


def _timestamp_text(microseconds: int) -> str:
    return (_EPOCH + timedelta(microseconds=microseconds)).isoformat()


def seed_command(
    orders: Annotated[int, typer.Option("--orders", help="How many orders to load.")] = 100_000,
    dsn: Annotated[
        str | None, typer.Option("--dsn", help="libpq URL of the MES database (primary).")
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help="'embedded' (the running stack; the default) or a profile TOML with "
            "\\[databases.mes] primary.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same data.")] = 42,
    plants: Annotated[int, typer.Option("--plants", help="Plants P1..Pn.")] = 4,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Day the 90-day history ends, YYYY-MM-DD (default: today)."),
    ] = None,
    own_target: Annotated[
        bool,
        typer.Option(
            "--i-own-this-target",
            help="Allow writing to a database that is not on loopback (profiles must also list "
            "its host in allow_load_hosts).",
        ),
    ] = False,
) -> None:
    """Load deterministic synthetic MES data (plants, work centers, operators, orders) via COPY.

    Orders are tagged SEED-<seed>-<n>: seeds coexist; loading a seed twice is refused (exit 2).
    """
    out = Console()
    try:
        check_arguments(orders, seed, plants)
        day = _parse_day(as_of)
        database = resolve_dsn(dsn, target, own_target=own_target)
    except SeedError as error:
        _fail(str(error), ExitCode.USAGE)
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=out, transient=True, disable=not out.is_terminal) as bar:
        task = bar.add_task(f"seed {seed} into {describe(database)}", total=orders)

        def advance(done: int) -> None:
            bar.update(task, completed=done)
            if done >= orders:
                bar.update(task, description="ANALYZE")

        try:
            report = seed_orders(database, orders, seed, plants, as_of=day, progress=advance)
        except SeedError as error:
            bar.stop()
            _fail(str(error), ExitCode.USAGE)
        except KeyboardInterrupt:
            bar.stop()
            _fail("interrupted: the transaction was rolled back, nothing was loaded", 130)
        except psycopg.OperationalError as error:
            bar.stop()
            reason = " ".join(str(error).split()) or type(error).__name__
            _fail(
                f"cannot use the MES database {describe(database)}: {reason}",
                ExitCode.TARGET_UNHEALTHY,
            )
    out.print(
        f"Seeded {report.orders:,} orders ({report.operations:,} operations, "
        f"{report.outbox_events:,} outbox events; new: {report.work_centers} work centers, "
        f"{report.products} products, "
        f"{report.operators} operators) as {report.ref_prefix}* into {describe(database)}: "
        f"{report.rows:,} rows in {report.elapsed_seconds:.1f} s, "
        f"{report.rows_per_second:,.0f} rows/s",
        highlight=False,
        soft_wrap=True,
    )


def resolve_dsn(dsn: str | None, target: str | None, *, own_target: bool = False) -> str:
    """The MES primary to seed: --dsn, a profile's [databases.mes] primary, or the embedded stack.

    Refuses databases off loopback unless the user owns the target (and, for a profile, its
    allow_load_hosts lists the host)."""
    if dsn is not None and target is not None:
        raise SeedError("give either --dsn or --target, not both")
    allowed: tuple[str, ...] | None = None
    if dsn is not None:
        chosen = dsn
    elif target is None or target == "embedded":
        from preflight import stack

        info = stack.status()
        if info is None:
            raise SeedError(
                "no embedded stack is running: start one with `preflight stack up --keep`, "
                "or pass --dsn URL or --target PROFILE.toml"
            )
        return info.database_dsn("mes")
    else:
        from preflight import targets

        try:
            profile = targets.load_profile(Path(target))
        except targets.TargetError as error:
            raise SeedError(str(error)) from None
        database = profile.databases.get("mes")
        if database is None:
            raise SeedError(f"profile {target} gives no MES database: add [databases.mes] primary")
        chosen, allowed = database.primary, profile.allow_load_hosts
    parts = urlsplit(chosen)
    if parts.scheme not in ("postgresql", "postgres"):
        raise SeedError(f"not a PostgreSQL URL (postgresql://...): {describe(chosen)}")
    host = parts.hostname or ""
    if not _is_loopback(host):
        if not own_target:
            raise SeedError(
                f"refusing to write to {host}, which is not on loopback: "
                "pass --i-own-this-target if this database is yours to fill"
            )
        if allowed is not None and host not in allowed:
            raise SeedError(f"{host} is not listed in the profile's target.allow_load_hosts")
    return chosen


def describe(dsn: str) -> str:
    """host:port/database of a libpq URL, without credentials."""
    parts = urlsplit(dsn)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.hostname or 'localhost'}{port}{parts.path or '/'}"


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parse_day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise SeedError(f"--as-of must be a date like 2025-01-31, not {value!r}") from None


def _fail(message: str, code: int) -> NoReturn:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)
