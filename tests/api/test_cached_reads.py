"""A cached order is served before FastAPI's routing: the same answer as the route, still
measured, traced and scoped."""

import httpx
from prometheus_client.parser import text_string_to_metric_families

from fixtures.mes import MesFactory, Plant
from preflight.clients.mes import MesClient
from preflight.expect import expect_problem, expect_status
from preflight.pytest_plugin import service_url
from preflight.targets import Target

ROUTE = "/orders/{order_id}"


def requests_counted(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "http_requests_total"
        and sample.labels.get("route") == ROUTE
        and sample.labels.get("method") == "GET"
    )


def test_a_cache_hit_answers_like_the_route_and_is_still_measured(
    target: Target, mes: MesClient, mes_factory: MesFactory, plant: Plant
) -> None:
    url = service_url(target, "mes")
    order = mes_factory.create_order(plant)
    first = mes.get_order(order["id"])
    before = requests_counted(url)

    second = mes.get_order(order["id"])

    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
    assert second.status_code == 200
    assert second.content == first.content
    assert second.headers["content-type"] == "application/json"
    assert second.headers["x-request-id"]
    assert second.headers["traceresponse"].startswith("00-")
    assert requests_counted(url) - before >= 1


def test_a_cached_order_outside_the_callers_plants_is_not_found(
    mes: MesClient, mes_factory: MesFactory, plant: Plant
) -> None:
    order = mes_factory.create_order(plant)
    expect_status(mes.get_order(order["id"]), 200)
    assert mes.get_order(order["id"]).headers["x-cache"] == "hit"

    other = mes.get_order(order["id"], headers={"X-Plant-Scope": "NOT-" + plant.code})

    expect_problem(other, 404, "not-found")


def test_a_bad_header_on_a_cached_order_gets_the_routes_problem(
    mes: MesClient, mes_factory: MesFactory, plant: Plant
) -> None:
    order = mes_factory.create_order(plant)
    expect_status(mes.get_order(order["id"]), 200)

    response = mes.get_order(order["id"], headers={"X-Min-LSN": "yesterday"})

    expect_problem(response, 422, "validation-error")
