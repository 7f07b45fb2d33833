"""The operator screens' queue pages come from Redis until an order of the plant changes."""

import re
from collections.abc import Iterator

import httpx
import pytest

from fixtures.mes import MesFactory, Plant
from preflight.clients.mes import MesClient
from preflight.pytest_plugin import service_url
from preflight.targets import Target

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def screens(target: Target, mes_factory: MesFactory, plant: Plant) -> Iterator[httpx.Client]:
    """A signed-in operator's cookie-keeping client."""
    user = mes_factory.create_screen_user(plant.code, "operator", plant.work_centers[0])
    with httpx.Client(base_url=service_url(target, "mes"), timeout=15) as client:
        token = TOKEN.search(client.get("/screens/login").text)
        assert token
        signed_in = client.post(
            "/screens/login",
            data={"login": user.login, "password": user.password, "csrf_token": token[1]},
        )
        assert signed_in.status_code == 303, signed_in.text
        yield client


def test_a_queue_page_is_cached_until_an_order_of_the_plant_changes(
    screens: httpx.Client, mes: MesClient, mes_factory: MesFactory, plant: Plant
) -> None:
    order = mes_factory.create_order(plant, status="released")

    first = screens.get("/screens/queue")
    again = screens.get("/screens/queue")
    assert (first.headers["x-cache"], again.headers["x-cache"]) == ("miss", "hit")
    assert order["order_ref"] in again.text

    held = mes.transition(order["id"], "hold")
    assert held.status_code == 200, held.text
    after_change = screens.get("/screens/queue")

    assert after_change.headers["x-cache"] == "miss"
    assert order["order_ref"] not in after_change.text  # on hold: not in the active queue


def test_a_change_in_another_plant_keeps_the_cached_page(
    screens: httpx.Client, mes_factory: MesFactory, plant: Plant
) -> None:
    mes_factory.create_order(plant, status="released")
    assert screens.get("/screens/queue").headers["x-cache"] == "miss"

    mes_factory.create_order(mes_factory.create_plant(), status="released")

    assert screens.get("/screens/queue").headers["x-cache"] == "hit"
