"""The MES publishes every change as a valid event on mes.events, in commit order, and the relay
reports its outbox lag."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fixtures.mes import MesFactory, Plant
from preflight.clients.events import EventStream
from preflight.clients.mes import MesClient
from preflight.expect import expect_status
from preflight.pytest_plugin import service_url
from preflight.targets import Target
from preflight.waits import wait_until
from reference_services.platform.events import validation_errors


@pytest.fixture
def events(target: Target) -> Iterator[EventStream]:
    if target.redis_url is None:
        pytest.skip("the target gives no Redis URL to read mes.events from")
    with EventStream(target.redis_url) as stream:
        yield stream


def types_of(events: list[dict[str, Any]], order_id: str) -> list[str]:
    return [e["type"] for e in events if e["subject"] == order_id]


def test_every_change_of_an_order_is_published_valid_and_in_order(
    mes: MesClient, mes_factory: MesFactory, plant: Plant, events: EventStream
) -> None:
    mark = events.mark()
    steps = [
        {"work_center": wc, "description": f"step at {wc}", "planned_minutes": 5}
        for wc in plant.work_centers[:2]
    ]
    worked = mes_factory.create_order(plant, status="released", operations=steps)["id"]
    expect_status(mes.update_order(worked, {"priority": 1}), 200)
    expect_status(mes.operation(worked, 1, "start"), 200)
    expect_status(mes.operation(worked, 1, "complete"), 200)
    expect_status(mes.transition(worked, "hold"), 200)
    expect_status(mes.transition(worked, "resume"), 200)
    expect_status(mes.operation(worked, 2, "start"), 200)
    expect_status(mes.operation(worked, 2, "complete"), 200)
    cancelled = mes_factory.create_order(plant, status="on_hold")["id"]
    expect_status(mes.transition(cancelled, "cancel"), 200)
    expected = {
        worked: [
            "order.created",
            "order.released",
            "order.updated",
            "order.started",
            "operation.started",
            "operation.completed",
            "order.held",
            "order.resumed",
            "operation.started",
            "operation.completed",
            "order.completed",
        ],
        cancelled: ["order.created", "order.held", "order.cancelled"],
    }

    published = events.wait_for(
        expected,
        lambda found: len(found) >= sum(len(types) for types in expected.values()),
        mark=mark,
        description="the orders' events on mes.events",
    )

    assert {order: types_of(published, order) for order in expected} == expected
    for event in published:
        document = {k: v for k, v in event.items() if k != "_entry"}
        assert validation_errors(document) == [], event
        assert event["source"] == "mes"
        assert event["data"]["plant"] == plant.code
    sequences = [e["sequence"] for e in published]
    assert sequences == sorted(sequences), "stream order is outbox (commit) order"
    assert len({e["id"] for e in published}) == len(published)


def test_an_order_created_event_carries_the_order_as_the_api_returned_it(
    mes_factory: MesFactory, plant: Plant, events: EventStream
) -> None:
    mark = events.mark()
    order = mes_factory.create_order(plant)

    [created] = events.wait_for([order["id"]], lambda found: len(found) >= 1, mark=mark)

    assert created["type"] == "order.created"
    assert created["subject"] == order["id"]
    assert created["time"] == order["created_at"]
    data = created["data"]
    for field in ("order_ref", "customer_ref", "sku", "quantity", "due_date", "plant", "priority"):
        assert data[field] == order[field], field
    assert (data["status"], data["previous_status"], data["version"]) == ("planned", None, 1)


def test_the_relay_exports_its_outbox_lag(target: Target) -> None:
    relay = service_url(target, "mes-relay")
    response = httpx.get(f"{relay}/metrics", timeout=10)
    response.raise_for_status()
    samples = {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.labels.get("stream") == "mes.events"
    }

    assert samples["outbox_lag_seconds"] >= 0
    assert samples["outbox_unpublished_events"] >= 0
    assert "outbox_published_events_total" in samples


@pytest.mark.parametrize("consumer", ["reporting", "notification"])
def test_each_consumer_exports_its_lag_and_pending_count(target: Target, consumer: str) -> None:
    url = service_url(target, consumer)

    def exported() -> dict[str, float] | None:
        response = httpx.get(f"{url}/metrics", timeout=10)
        response.raise_for_status()
        found = {
            sample.name: sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
            if (sample.labels.get("stream"), sample.labels.get("group")) == ("mes.events", consumer)
        }
        return found if "stream_consumer_lag_events" in found else None

    samples = wait_until(exported, timeout=10, description=f"{consumer}'s consumer lag")
    assert samples["stream_consumer_lag_events"] >= 0
    assert samples["stream_consumer_pending_events"] >= 0
    assert "stream_events_handled_total" in samples
