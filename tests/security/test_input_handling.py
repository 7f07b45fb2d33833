"""OWASP API4 (unrestricted resource consumption) and API8 (misconfiguration): oversized bodies,
deeply nested JSON and huge page sizes are refused with a clear problem, and no error body,
whatever the input, carries a stack trace, SQL or a driver's name. Also API7 (SSRF): callback
URLs naming the metadata address in encodings a naive check misses are refused."""

import httpx
import pytest

from fixtures.mes import MesFactory, Plant
from preflight.clients.gateway import GatewayCallers, GatewayClient

LEAKS = (
    "Traceback",
    'File "',
    "sqlalchemy",
    "asyncpg",
    "psycopg",
    "SELECT ",
    "INSERT ",
    "pydantic_core",
)


@pytest.fixture
def planner(callers: GatewayCallers, plant: Plant) -> GatewayClient:
    return callers("planner", plant.code)


@pytest.fixture
def admin(callers: GatewayCallers) -> GatewayClient:
    return callers("admin")


def assert_clean_problem(response: httpx.Response, *statuses: int) -> None:
    assert response.status_code in statuses, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body = response.text
    leaked = [word for word in LEAKS if word in body]
    assert leaked == [], f"error body leaks {leaked}: {body[:500]}"
    assert response.json()["type"]


def test_an_oversized_body_is_refused_before_it_reaches_the_mes(planner: GatewayClient) -> None:
    response = planner.http.post(
        "/orders",
        content=b'{"x": "' + b"a" * (2 * 1024 * 1024) + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert_clean_problem(response, 413)


def test_deeply_nested_json_is_refused_cleanly(planner: GatewayClient) -> None:
    depth = 100_000
    response = planner.http.post(
        "/orders", content=b"[" * depth + b"]" * depth, headers={"Content-Type": "application/json"}
    )
    assert_clean_problem(response, 400, 413, 422)


@pytest.mark.parametrize("limit", ["1000000", "-1", "0", "1e9", "NaN"])
def test_page_sizes_beyond_the_bounds_are_refused(planner: GatewayClient, limit: str) -> None:
    response = planner.http.get("/orders", params={"limit": limit})
    assert_clean_problem(response, 422)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/orders/' OR 1=1--", None),
        ("GET", "/orders/%00", None),
        ("GET", "/orders", {"status": "'; DROP TABLE orders;--"}),
        ("POST", "/orders", {"order_ref": None, "quantity": "many", "due_date": "yesterday"}),
        ("POST", "/orders", {"order_ref": "x" * 10_000, "quantity": 10**30}),
        ("POST", "/orders", [1, 2, 3]),
        ("PATCH", "/orders/00000000-0000-0000-0000-000000000000", {"priority": {"$gt": 0}}),
        ("POST", "/orders/not-a-uuid/release", {}),
    ],
)
def test_bad_input_gets_a_problem_without_internals(
    planner: GatewayClient, method: str, path: str, body: object
) -> None:
    if method == "GET" and isinstance(body, dict):
        response = planner.http.get(path, params=body)
    else:
        response = planner.http.request(method, path, json=body)
    assert_clean_problem(response, 400, 404, 409, 422)


def test_a_broken_json_body_gets_a_problem_without_internals(planner: GatewayClient) -> None:
    response = planner.http.post(
        "/orders", content=b'{"order_ref": "A", ', headers={"Content-Type": "application/json"}
    )
    assert_clean_problem(response, 400, 422)


@pytest.mark.parametrize(
    "url",
    [
        "http://2852039166/latest/meta-data",  # 169.254.169.254 as one decimal number
        "http://0xa9fea9fe/latest/meta-data",  # ... in hex
        "http://0251.0376.0251.0376/latest/meta-data",  # ... in octal
        "http://169.254.169.254.nip.io/latest/meta-data",  # a name (unresolvable offline)
        "http://[fd00:ec2::254]/latest/meta-data",  # the IPv6 metadata address
        "http://10.0.0.1:80@169.254.169.254/",  # credentials trick
    ],
)
def test_callback_urls_to_the_metadata_address_in_any_spelling_are_refused(
    admin: GatewayClient, mes_factory: MesFactory, url: str
) -> None:
    response = admin.http.post(
        "/webhooks", json={"url": url, "events": ["order.completed"], "description": "ssrf"}
    )
    assert_clean_problem(response, 422)
