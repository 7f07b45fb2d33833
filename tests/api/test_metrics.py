"""Every service exports its metrics with bounded labels, and the MES counts what happens to
orders per plant."""

import re
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from fixtures.mes import MesFactory, Plant
from preflight.clients.mes import MesClient
from preflight.expect import expect_status
from preflight.pytest_plugin import service_url
from preflight.targets import Target
from preflight.waits import wait_until
from reference_services.catalog import SERVICES

UNBOUNDED_VALUE = [
    re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I),  # ids
    re.compile(r"^\d{4,}$"),  # numbers: order numbers, timestamps, ports
    re.compile(r"^/.*/(\d+|[0-9a-f-]{16,})(/|$)"),  # a raw path with an id in it
]
BOUNDED_LABELS = {
    "service", "method", "route", "status", "plant", "transition", "upstream", "outcome",
    "stream", "group", "side", "role", "pool", "result", "type", "le", "quantile",
}  # fmt: skip


def samples(url: str) -> Iterator[Sample]:
    response = httpx.get(f"{url}/metrics", timeout=10)
    response.raise_for_status()
    for family in text_string_to_metric_families(response.text):
        yield from family.samples


def value(url: str, name: str, **labels: str) -> float:
    found = [s.value for s in samples(url) if s.name == name and labels.items() <= s.labels.items()]
    return sum(found)


@pytest.mark.parametrize("service", [service.name for service in SERVICES])
def test_every_label_is_bounded(target: Target, service: str) -> None:
    url = service_url(target, service)
    unbounded = [
        f"{s.name}{{{name}={text!r}}}"
        for s in samples(url)
        for name, text in s.labels.items()
        if name not in BOUNDED_LABELS or any(p.search(text) for p in UNBOUNDED_VALUE)
    ]
    assert unbounded == [], f"labels that can grow without bound on {service}"


def test_the_bounded_label_check_catches_ids_and_raw_paths() -> None:
    def flagged(text: str) -> bool:
        return any(p.search(text) for p in UNBOUNDED_VALUE)

    assert flagged("/orders/6f1c2b9e-6bd4-4d35-9ae1-3a4f61f2f0a2")
    assert flagged("/orders/123456/start")
    assert flagged("1795588689965")
    assert not flagged("/orders/{order_id}")
    assert not flagged("P1")
    assert not flagged("200")


def test_the_mes_counts_order_transitions_and_lead_time_per_plant(
    target: Target, mes: MesClient, mes_factory: MesFactory, plant: Plant
) -> None:
    url = service_url(target, "mes")
    done = mes_factory.create_order(plant, status="released")
    mes_factory.create_order(plant, status="cancelled")
    mes_factory.create_order(plant)
    expect_status(mes.transition(done["id"], "start"), 200)
    expect_status(mes.transition(done["id"], "complete"), 200)

    counted = {
        step: value(url, "mes_order_transitions_total", plant=plant.code, transition=step)
        for step in ("created", "released", "started", "completed", "cancelled", "held")
    }

    assert counted == {
        "created": 3,
        "released": 1,
        "started": 1,
        "completed": 1,
        "cancelled": 1,
        "held": 0,
    }
    assert value(url, "mes_order_lead_time_seconds_count", plant=plant.code) == 1


def test_services_export_pool_cache_and_replica_lag(
    target: Target, mes: MesClient, mes_factory: MesFactory, plant: Plant
) -> None:
    url = service_url(target, "mes")
    order = mes_factory.create_order(plant)
    expect_status(mes.get_order(order["id"]), 200)
    expect_status(mes.get_order(order["id"]), 200)

    names = {s.name for s in samples(url)}

    assert {
        "db_pool_connections_in_use",
        "db_pool_connections_max",
        "cache_requests_total",
        "db_replica_lag_bytes",
        "http_requests_total",
        "http_request_duration_seconds_bucket",
    } <= names
    assert value(url, "cache_requests_total", result="hit") >= 1
    wait_until(
        lambda: "db_replica_lag_seconds" in {s.name for s in samples(url)},
        timeout=10,
        description="the replica lag to be sampled",
    )
