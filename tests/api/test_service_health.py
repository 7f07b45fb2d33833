"""What operations and monitoring rely on: health endpoints, metrics, request ids, errors."""

import re

from fixtures.mes import MesFactory, Plant
from preflight.clients.mes import MesClient
from preflight.expect import expect_problem, expect_status


def test_the_service_is_live_and_ready_with_every_dependency(mes: MesClient) -> None:
    assert expect_status(mes.http.get("/health/live"), 200) == {"status": "ok"}
    ready = expect_status(mes.http.get("/health/ready"), 200)
    assert ready["checks"] == {"primary": "ok", "replica": "ok", "redis": "ok"}


def test_metrics_count_requests_by_route_template_not_by_raw_path(
    mes: MesClient, mes_factory: MesFactory, plant: Plant
) -> None:
    order = mes_factory.create_order(plant)
    expect_status(mes.get_order(order["id"]), 200)

    text = mes.http.get("/metrics").text

    labels = r'method="GET",route="/orders/\{order_id\}",service="mes",status="200"'
    assert re.search(r"http_requests_total\{" + labels + r"\} [1-9]", text)
    assert (
        'http_request_duration_seconds_bucket{le="0.005",method="POST",route="/orders",service="mes"}'
        in text
    )
    assert order["id"] not in text


def test_every_response_carries_a_request_id_and_echoes_the_callers(mes: MesClient) -> None:
    assert re.fullmatch(r"[0-9a-f]{32}", mes.http.get("/health/live").headers["x-request-id"])
    assert (
        mes.http.get("/health/live", headers={"X-Request-ID": "trace-me-42"}).headers[
            "x-request-id"
        ]
        == "trace-me-42"
    )


def test_unknown_routes_and_methods_are_problems(mes: MesClient) -> None:
    expect_problem(mes.http.get("/no-such-thing"), 404, "not-found")
    expect_problem(mes.http.delete("/orders"), 405, "method-not-allowed")
