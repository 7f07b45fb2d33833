"""OWASP API7 (server-side request forgery) through webhook callback URLs, beyond the address
spellings of test_input_handling: a receiver that answers with a redirect (to another receiver,
or to the cloud metadata address) is not followed; a host NAME that resolves to a private
address is refused although the address itself, named literally, is allowlisted; and the host
is checked again before each delivery attempt, not only when the subscription is made.

The embedded stack allowlists the addresses 127.0.0.1 and ::1 only as literals, so its
receivers work while `localhost` and the machine's own name do not. Against a profile these
tests skip when the target refuses the loopback receivers they need."""

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from fixtures.mes import MesFactory, Plant
from fixtures.notification import Subscribe, Subscribed, settled_deliveries
from preflight.clients.mes import MesClient
from preflight.clients.notification import NotificationClient
from preflight.expect import expect_problem, expect_status
from preflight.targets import Target
from preflight.webhook_receiver import WebhookReceiver

METADATA = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
HOSTNAME = "the machine's own name"


def released_and_settled(
    notification: NotificationClient,
    mes: MesClient,
    mes_factory: MesFactory,
    plant: Plant,
    hook: Subscribed,
) -> dict[str, Any]:
    """Release an order of the plant; the hook's one delivery, once it has settled."""
    order = mes_factory.create_order(plant)
    expect_status(mes.transition(order["id"], "release"), 200)
    (delivery,) = settled_deliveries(notification, hook.id)
    return delivery


@pytest.mark.parametrize("status", [302, 307])
@pytest.mark.parametrize("to", ["a second receiver", "the metadata address"])
def test_a_receiver_redirecting_elsewhere_is_not_followed(
    notification: NotificationClient,
    mes: MesClient,
    mes_factory: MesFactory,
    plant: Plant,
    subscribe: Subscribe,
    status: int,
    to: str,
) -> None:
    with WebhookReceiver() as second:
        location = second.url if to == "a second receiver" else METADATA
        hook = subscribe(
            ["order.released"], plant=plant.code, answers=(status,), redirect_to=location
        )

        delivery = released_and_settled(notification, mes, mes_factory, plant, hook)

        assert second.received == []
    assert [r.answered for r in hook.receiver.received] == [status]
    assert delivery["status"] == "failed"
    assert delivery["last_error"].startswith(f"HTTP {status}")
    assert [a["status_code"] for a in delivery["attempts"]] == [status]


def resolves_privately(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    return any(not ipaddress.ip_address(str(i[4][0]).split("%")[0]).is_global for i in infos)


@pytest.mark.parametrize(
    "host",
    ["localhost", "LOCALHOST", HOSTNAME, "127.1", "2130706433", "0x7f.1", "017700000001"],
)
def test_a_name_resolving_to_an_allowlisted_private_address_is_refused(
    notification: NotificationClient, subscribe: Subscribe, target: Target, host: str
) -> None:
    hook = subscribe(["order.completed"])  # the address, named literally, is admitted
    name = socket.gethostname() if host == HOSTNAME else host
    if target.stack_dir is not None and not resolves_privately(name):
        pytest.skip(f"{name!r} does not resolve to a private address on this machine")
    port = urlsplit(hook.receiver.url).port

    response = notification.create_subscription(f"http://{name}:{port}/hooks", ["order.*"])

    problem = expect_problem(response, 422, "callback-url-refused")
    if target.stack_dir is not None:  # the service resolves names on this machine
        assert "resolves to" in problem["detail"], problem


def test_the_host_is_checked_again_before_each_attempt(
    notification: NotificationClient,
    mes: MesClient,
    mes_factory: MesFactory,
    plant: Plant,
    subscribe: Subscribe,
    target: Target,
) -> None:
    """A subscription accepted while its host passed the check, whose host then stops passing
    it (here: its stored URL now names localhost, as a DNS answer that changed would), gets no
    request: the delivery fails as refused before it is sent."""
    dsns = target.database("notification")
    if dsns is None:
        pytest.skip("the target gives no notification database DSN to change the stored URL")
    hook = subscribe(["order.released"], plant=plant.code)
    port = urlsplit(hook.receiver.url).port
    with psycopg.connect(dsns.primary, autocommit=True) as conn:
        conn.execute(
            "UPDATE subscriptions SET url = %s WHERE id = %s",
            (f"http://localhost:{port}/hooks", hook.id),
        )

    delivery = released_and_settled(notification, mes, mes_factory, plant, hook)

    assert delivery["status"] == "failed"
    assert delivery["last_error"].startswith("refused: localhost resolves to"), delivery
    assert hook.receiver.received == []
