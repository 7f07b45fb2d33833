"""The gateway as a proxy: what passes through, what comes back, and what it refuses itself."""

import re
import uuid
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fixtures.mes import MesFactory, Plant
from preflight.clients.gateway import GatewayCallers, GatewayClient
from preflight.expect import expect_problem, expect_status

MAX_BODY_BYTES = 1024 * 1024


@pytest.fixture
def planner(callers: GatewayCallers, plant: Plant) -> GatewayClient:
    return callers("planner", plant.code)


def samples(client: GatewayClient, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = expect_status_text(client)
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def expect_status_text(client: GatewayClient) -> str:
    response = client.gateway("/metrics")
    assert response.status_code == 200, response.text
    return response.text


def test_an_order_makes_its_way_through_the_gateway(
    planner: GatewayClient, mes_factory: MesFactory, plant: Plant
) -> None:
    created = planner.create_order(mes_factory.build_order(plant))

    order = expect_status(created, 201)
    assert created.headers["location"] == f"/api/v1/orders/{order['id']}"
    assert re.fullmatch(r"[0-9A-F]+/[0-9A-F]+", created.headers["x-commit-lsn"])
    assert expect_status(planner.get_order(order["id"]), 200) == order
    released = expect_status(planner.transition(order["id"], "release", if_match=1), 200)
    assert released["status"] == "released"
    expect_problem(
        planner.transition(order["id"], "release", if_match=1), 412, "precondition-failed"
    )
    started = expect_status(planner.operation(order["id"], 1, "start"), 200)
    assert started["status"] == "in_progress"


def test_an_idempotent_retry_through_the_gateway_is_replayed(
    planner: GatewayClient, mes_factory: MesFactory, plant: Plant
) -> None:
    body = mes_factory.build_order(plant)
    key = f"gw-{uuid.uuid4()}"

    first = planner.create_order(body, idempotency_key=key)
    again = planner.create_order(body, idempotency_key=key)

    assert expect_status(again, 201) == expect_status(first, 201)
    assert again.headers["idempotent-replayed"] == "true"


def test_upstream_problems_come_back_with_the_public_path(planner: GatewayClient) -> None:
    missing = f"/orders/{uuid.uuid4()}"

    problem = expect_problem(planner.http.get(missing), 404, "not-found")

    assert problem["instance"] == f"/api/v1{missing}"
    invalid = expect_problem(planner.create_order({"order_ref": ""}), 422, "validation-error")
    assert invalid["instance"] == "/api/v1/orders"


def test_the_callers_request_id_and_trace_go_upstream_and_come_back(
    planner: GatewayClient, mes_factory: MesFactory, plant: Plant
) -> None:
    order = mes_factory.create_order(plant)
    request_id = f"req-{uuid.uuid4().hex}"
    trace_id, parent = uuid.uuid4().hex, uuid.uuid4().hex[:16]

    response = planner.get_order(
        order["id"],
        headers={"X-Request-ID": request_id, "traceparent": f"00-{trace_id}-{parent}-01"},
    )

    expect_status(response, 200)
    assert response.headers.get_list("x-request-id") == [request_id]
    version, traced, span, _flags = response.headers["traceresponse"].split("-")
    assert (version, traced) == ("00", trace_id)
    assert span != parent


def test_a_request_without_an_id_gets_one(planner: GatewayClient) -> None:
    response = planner.list_orders(limit=1)

    expect_status(response, 200)
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    assert re.fullmatch(
        r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}", response.headers["traceresponse"]
    )


def test_a_body_over_the_limit_is_refused_before_it_reaches_the_mes(
    planner: GatewayClient,
) -> None:
    oversized = b'{"pad": "' + b"x" * MAX_BODY_BYTES + b'"}'

    response = planner.http.post(
        "/orders", content=oversized, headers={"Content-Type": "application/json"}
    )

    expect_problem(response, 413, "payload-too-large")


def test_a_chunked_body_over_the_limit_is_refused_too(planner: GatewayClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"x" * 65536

    response = planner.http.post(
        "/orders", content=chunks(), headers={"Content-Type": "application/json"}
    )

    expect_problem(response, 413, "payload-too-large")


def test_the_gateway_is_ready_when_redis_and_its_upstreams_are(planner: GatewayClient) -> None:
    ready = expect_status(planner.gateway("/health/ready"), 200)

    assert {"redis", "mes"} <= set(ready["checks"])
    assert set(ready["checks"].values()) == {"ok"}
    assert expect_status(planner.gateway("/health/live"), 200) == {"status": "ok"}


def test_metrics_show_breakers_upstream_latency_and_route_templates(
    planner: GatewayClient, mes_factory: MesFactory, plant: Plant
) -> None:
    order = mes_factory.create_order(plant)
    expect_status(planner.get_order(order["id"]), 200)

    breakers = samples(planner, "gateway_circuit_breaker_state")
    durations = samples(planner, "gateway_upstream_request_duration_seconds_count")
    requests = samples(planner, "http_requests_total")

    assert breakers[(("upstream", "mes"),)] == 0
    assert durations[(("outcome", "ok"), ("upstream", "mes"))] >= 1
    routes = {dict(labels)["route"] for labels in requests}
    assert "/api/v1/orders/{id}" in routes
    assert not [route for route in routes if order["id"] in route]
    assert "gateway_rate_limited_total" in expect_status_text(planner)


def test_the_public_api_document_is_served(planner: GatewayClient) -> None:
    document = expect_status(planner.gateway("/openapi.json"), 200)

    assert "/api/v1/orders/{order_id}" in document["paths"]
    assert document["security"] == [{"bearerAuth": []}]


def test_a_route_to_an_upstream_the_target_lacks_is_unavailable(callers: GatewayCallers) -> None:
    if "reporting" in callers.target.services:
        pytest.skip("the target runs a reporting service")

    response = callers("admin").http.get("/reports/orders")

    expect_problem(response, 503, "upstream-unavailable")
