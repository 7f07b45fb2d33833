"""The operator screens against cross-site request forgery, framing and sniffing.

Every screen form carries a signed double-submit CSRF token: a POST without it, with a wrong
one, or with a forged pair (equal in cookie and form but not signed by the MES) is refused with
403 and changes nothing. Every screen response carries the security headers.
"""

import re
from collections.abc import Iterator

import httpx
import pytest

from fixtures.mes import MesFactory, Plant, ScreenUser
from preflight.clients.mes import MesClient
from preflight.pytest_plugin import service_url
from preflight.targets import Target
from reference_services.platform.signed_cookies import CookieSigner

CSRF_FIELD = "csrf_token"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def web(target: Target) -> Iterator[httpx.Client]:
    """A cookie-keeping client, as a browser is."""
    with httpx.Client(base_url=service_url(target, "mes"), timeout=15) as client:
        yield client


def _token(web: httpx.Client, path: str = "/screens/login") -> str:
    found = TOKEN.search(web.get(path).text)
    assert found, f"no CSRF field on {path}"
    return found.group(1)


def _sign_in(web: httpx.Client, user: ScreenUser) -> str:
    token = _token(web)
    response = web.post(
        "/screens/login",
        data={"login": user.login, "password": user.password, CSRF_FIELD: token},
    )
    assert response.status_code == 303, response.text
    return token


@pytest.fixture
def operator(mes_factory: MesFactory, plant: Plant) -> ScreenUser:
    return mes_factory.create_screen_user(plant.code, "operator", plant.work_centers[0])


@pytest.fixture
def planner(mes_factory: MesFactory, plant: Plant) -> ScreenUser:
    return mes_factory.create_screen_user(plant.code, "planner")


def _forms(order_id: str) -> list[tuple[str, dict[str, str]]]:
    return [
        (f"/screens/orders/{order_id}/operations/1/start", {"version": "2", "confirm": "yes"}),
        (
            f"/screens/orders/{order_id}/scrap",
            {"seq": "1", "quantity": "1", "reason": "dent", "confirm": "yes"},
        ),
        (f"/screens/orders/{order_id}/release", {"version": "1", "confirm": "yes"}),
        (f"/screens/orders/{order_id}/priority", {"version": "1", "priority": "1"}),
        ("/screens/logout", {}),
    ]


@pytest.mark.parametrize("token", ["missing", "wrong", "forged"])
def test_a_screen_form_without_its_csrf_token_is_refused(
    token: str,
    web: httpx.Client,
    mes: MesClient,
    mes_factory: MesFactory,
    plant: Plant,
    operator: ScreenUser,
) -> None:
    order = mes_factory.create_order(plant, status="released")
    good = _sign_in(web, operator)
    forged = CookieSigner("not the stack's secret", "mes-screen-csrf").sign({"n": "x"})

    for path, fields in _forms(order["id"]):
        data = dict(fields)
        if token == "wrong":
            data[CSRF_FIELD] = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
        elif token == "forged":
            web.cookies.set("mes_csrf", forged, path="/screens")
            data[CSRF_FIELD] = forged
        response = web.post(path, data=data)
        assert response.status_code == 403, f"{path}: {response.status_code}"
        assert "Form expired" in response.text

    after = mes.get_order(order["id"]).json()
    assert (after["status"], after["version"]) == ("released", order["version"])
    web.cookies.set("mes_csrf", good, path="/screens")
    assert web.get("/screens/queue").status_code == 200  # still signed in: logout refused


def test_sign_in_is_refused_without_its_csrf_token(web: httpx.Client, operator: ScreenUser) -> None:
    response = web.post(
        "/screens/login", data={"login": operator.login, "password": operator.password}
    )

    assert response.status_code == 403
    assert "mes_session" not in response.cookies


def test_the_same_form_with_its_token_is_accepted(
    web: httpx.Client,
    mes: MesClient,
    mes_factory: MesFactory,
    plant: Plant,
    operator: ScreenUser,
) -> None:
    order = mes_factory.create_order(plant, status="released")
    token = _sign_in(web, operator)

    response = web.post(
        f"/screens/orders/{order['id']}/operations/1/start",
        data={"version": str(order["version"]), "confirm": "yes", CSRF_FIELD: token},
    )

    assert response.status_code == 303, response.text
    assert mes.get_order(order["id"]).json()["status"] == "in_progress"


def test_a_tampered_session_cookie_signs_the_user_out(
    web: httpx.Client, operator: ScreenUser
) -> None:
    _sign_in(web, operator)
    session = web.cookies.get("mes_session", path="/screens")
    assert session
    body, mac = session.split(".")
    web.cookies.set("mes_session", body + "." + mac[::-1], path="/screens")

    response = web.get("/screens/queue")

    assert response.status_code == 303
    assert response.headers["location"] == "/screens/login"


def test_session_and_csrf_cookies_are_http_only_and_same_site(
    web: httpx.Client, operator: ScreenUser
) -> None:
    first = web.get("/screens/login")
    token = TOKEN.search(first.text)
    assert token
    signed_in = web.post(
        "/screens/login",
        data={"login": operator.login, "password": operator.password, CSRF_FIELD: token[1]},
    )

    csrf_cookie = first.headers["set-cookie"].lower()
    session_cookie = signed_in.headers["set-cookie"].lower()
    assert "httponly" in csrf_cookie
    assert "samesite=strict" in csrf_cookie
    assert "httponly" in session_cookie
    assert "samesite=lax" in session_cookie


def test_every_screen_sends_the_security_headers(
    web: httpx.Client, mes_factory: MesFactory, plant: Plant, planner: ScreenUser
) -> None:
    order = mes_factory.create_order(plant)
    assert web.get("/screens/login").status_code == 200
    _sign_in(web, planner)
    paths = [
        "/screens/login",  # signed in: a redirect to the queue
        "/screens/queue",
        "/screens/board",
        f"/screens/orders/{order['id']}",
        "/screens/orders/00000000-0000-0000-0000-000000000000",
        "/screens/static/screens.css",
    ]

    for path in paths:
        response = web.get(path)
        assert response.status_code in (200, 303, 404), f"{path}: {response.status_code}"
        headers = response.headers
        policy = headers.get("content-security-policy", "")
        assert "default-src 'self'" in policy, path
        assert "frame-ancestors 'none'" in policy, path
        assert "script-src 'self'" in policy, path
        assert "unsafe-inline" not in policy, path
        assert headers.get("x-content-type-options") == "nosniff", path
        assert headers.get("x-frame-options") == "DENY", path
        assert headers.get("referrer-policy") == "same-origin", path
