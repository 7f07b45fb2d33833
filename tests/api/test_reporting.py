"""The reporting service's figures agree with the same figures computed straight from the MES
database for the same orders (a plant of the test's own), whatever the delivery did."""

import csv
import io
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from fixtures.mes import MesFactory, Plant
from fixtures.reporting import wait_for_applied
from preflight.clients.events import EventStream
from preflight.clients.mes import MesClient
from preflight.clients.reporting import ReportingClient
from preflight.expect import expect_problem, expect_status
from preflight.targets import Target

FIRST_SHIFT_HOUR, SHIFT_HOURS = 6, 8  # the reporting service's defaults


def percentile_cont(values: list[float], fraction: float) -> float:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def shift_start(moment: datetime) -> datetime:
    shifted = moment - timedelta(hours=FIRST_SHIFT_HOUR)
    day = shifted.replace(hour=0, minute=0, second=0, microsecond=0)
    index = int((shifted - day).total_seconds() // (SHIFT_HOURS * 3600))
    return day + timedelta(hours=FIRST_SHIFT_HOUR + index * SHIFT_HOURS)


def mes_orders(mes_db: str, plant: str) -> list[dict[str, Any]]:
    """The plant's orders in the MES, with when each was completed (its order.completed event)."""
    with psycopg.connect(mes_db) as conn:
        rows = conn.execute(
            "SELECT o.id::text, o.sku, o.quantity, o.status, o.due_date, o.created_at,"
            " (SELECT e.occurred_at FROM outbox e WHERE e.aggregate_id = o.id::text"
            "  AND e.event_type = 'order.completed') AS completed_at,"
            " (SELECT count(*) FROM outbox e WHERE e.aggregate_id = o.id::text) AS events"
            " FROM orders o WHERE o.plant = %s",
            (plant,),
        ).fetchall()
    keys = ("id", "sku", "quantity", "status", "due_date", "created_at", "completed_at", "events")
    return [dict(zip(keys, row, strict=True)) for row in rows]


@pytest.fixture
def worked_plant(mes: MesClient, mes_factory: MesFactory, plant: Plant) -> Plant:
    """A plant with orders in every state: completed (at once or operation by operation),
    cancelled, on hold, released and planned, over several SKUs."""
    for n in range(9):
        order = mes_factory.create_order(plant, sku=plant.skus[n % len(plant.skus)])
        if n < 5:
            for action in ("release", "start", "complete"):
                expect_status(mes.transition(order["id"], action), 200)
        elif n == 5:
            expect_status(mes.transition(order["id"], "cancel"), 200)
        elif n == 6:
            expect_status(mes.transition(order["id"], "hold"), 200)
        elif n == 7:
            expect_status(mes.transition(order["id"], "release"), 200)
    return plant


@pytest.fixture
def caught_up(reporting: ReportingClient, worked_plant: Plant, mes_db: str) -> list[dict[str, Any]]:
    orders = mes_orders(mes_db, worked_plant.code)
    wait_for_applied(reporting, {o["id"]: o["events"] for o in orders})
    return orders


def test_orders_by_status_match_the_mes(
    reporting: ReportingClient, worked_plant: Plant, caught_up: list[dict[str, Any]]
) -> None:
    expected = Counter(order["status"] for order in caught_up)

    items = expect_status(reporting.orders_by_status(plant=worked_plant.code), 200)["items"]

    assert {i["status"]: i["orders"] for i in items} == dict(expected)
    assert {i["plant"] for i in items} == {worked_plant.code}


@pytest.mark.parametrize("granularity", ["day", "shift"])
def test_throughput_matches_the_mes(
    reporting: ReportingClient,
    worked_plant: Plant,
    caught_up: list[dict[str, Any]],
    granularity: str,
) -> None:
    expected: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for order in caught_up:
        if order["completed_at"] is None:
            continue
        done = order["completed_at"].astimezone(UTC)
        period = (
            done.replace(hour=0, minute=0, second=0, microsecond=0)
            if granularity == "day"
            else shift_start(done)
        )
        expected[period.isoformat()][0] += 1
        expected[period.isoformat()][1] += order["quantity"]
    now = datetime.now(UTC)

    items = expect_status(
        reporting.throughput(
            plant=worked_plant.code,
            granularity=granularity,
            since=now - timedelta(days=2),
            until=now + timedelta(hours=1),
        ),
        200,
    )["items"]

    assert {i["period_start"]: [i["orders"], i["quantity"]] for i in items} == dict(expected)
    assert sum(count for count, _ in expected.values()) == 5


def test_lead_time_percentiles_per_sku_match_the_mes(
    reporting: ReportingClient, worked_plant: Plant, caught_up: list[dict[str, Any]]
) -> None:
    seconds: dict[str, list[float]] = defaultdict(list)
    for order in caught_up:
        if order["completed_at"] is not None:
            lead = (order["completed_at"] - order["created_at"]).total_seconds()
            seconds[order["sku"]].append(lead)

    items = expect_status(reporting.lead_time(plant=worked_plant.code), 200)["items"]

    assert {i["sku"]: i["orders"] for i in items} == {s: len(v) for s, v in seconds.items()}
    for item in items:
        values = seconds[item["sku"]]
        assert item["p50_seconds"] == pytest.approx(percentile_cont(values, 0.5), abs=1e-3)
        assert item["p95_seconds"] == pytest.approx(percentile_cont(values, 0.95), abs=1e-3)
        assert item["p50_seconds"] == pytest.approx(statistics.median(values), abs=1e-3)


def test_late_orders_match_the_mes(
    reporting: ReportingClient, worked_plant: Plant, caught_up: list[dict[str, Any]]
) -> None:
    as_of = max(order["due_date"] for order in caught_up) - timedelta(days=10)
    expected = {
        o["id"]: (as_of - o["due_date"]).days
        for o in caught_up
        if o["status"] not in ("completed", "cancelled") and o["due_date"] < as_of
    }

    items = expect_status(reporting.late_orders(plant=worked_plant.code, as_of=as_of), 200)["items"]

    assert {i["order_id"]: i["days_late"] for i in items} == expected


def test_the_csv_export_holds_what_the_json_does(
    reporting: ReportingClient, worked_plant: Plant, caught_up: list[dict[str, Any]]
) -> None:
    as_json = expect_status(reporting.orders_by_status(plant=worked_plant.code), 200)["items"]

    exported = reporting.orders_by_status(plant=worked_plant.code, format="csv")

    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [{**r, "orders": int(r["orders"])} for r in rows] == as_json


def test_a_duplicate_delivery_is_applied_once(
    target: Target,
    reporting: ReportingClient,
    mes_factory: MesFactory,
    mes: MesClient,
    plant: Plant,
) -> None:
    if target.redis_url is None:
        pytest.skip("needs the target's Redis to deliver a duplicate")
    order = mes_factory.create_order(plant)
    expect_status(mes.transition(order["id"], "release"), 200)
    wait_for_applied(reporting, {order["id"]: 2})
    with EventStream(target.redis_url) as stream:
        [entry] = [e for e in stream.about([order["id"]]) if e["type"] == "order.created"]
        fields = stream.redis.xrange(stream.stream, min=entry["_entry"], max=entry["_entry"])
        stream.redis.xadd(stream.stream, fields[0][1])
        expect_status(mes.transition(order["id"], "hold"), 200)  # a later event, as a marker

    applied = wait_for_applied(reporting, {order["id"]: 3})

    assert applied[order["id"]] == 3, "the copy was not applied, the next event was"
    row = expect_status(reporting.order(order["id"]), 200)
    assert (row["status"], row["events_applied"]) == ("on_hold", 3)


def test_a_caller_sees_only_its_plants(
    reporting: ReportingClient, worked_plant: Plant, caught_up: list[dict[str, Any]]
) -> None:
    other = {"X-Plant-Scope": "NOT-" + worked_plant.code}

    figures = reporting.read(
        "/reports/orders-by-status", params={"plant": worked_plant.code}, headers=other
    )
    one = reporting.read(f"/reports/orders/{caught_up[0]['id']}", headers=other)

    assert expect_status(figures, 200)["items"] == []
    expect_problem(one, 404, "not-found")


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"from": "2030-01-02T00:00:00Z", "to": "2030-01-01T00:00:00Z"}, "from must be before"),
        ({"granularity": "week"}, "granularity"),
        ({"format": "xml"}, "format"),
    ],
)
def test_bad_report_parameters_are_refused(
    reporting: ReportingClient, params: dict[str, str], detail: str
) -> None:
    problem = expect_problem(
        reporting.read("/reports/throughput", params=params), 422, "validation-error"
    )
    assert detail in str(problem)


def test_an_unknown_order_is_not_found(reporting: ReportingClient) -> None:
    expect_problem(reporting.order("00000000-0000-4000-8000-000000000000"), 404, "not-found")
