"""The notification service: webhook subscriptions with a guarded URL, signed deliveries retried
with backoff and logged, alerts in a per-user feed, and the stream consumer's dead letters and
reclaims. Receivers are real HTTP servers on loopback (preflight.webhook_receiver)."""

import itertools
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import orjson
import pytest

from fixtures.events import envelope_like, poison_like, wait_for_dead_poison
from fixtures.mes import MesFactory, Plant
from fixtures.notification import Subscribe, settled_deliveries
from preflight.clients.events import ENVELOPE, EventStream
from preflight.clients.mes import MesClient
from preflight.clients.notification import NotificationClient
from preflight.expect import expect_problem, expect_status
from preflight.targets import Target
from preflight.waits import wait_until

GROUP = "notification"


@pytest.fixture
def events(target: Target) -> Iterator[EventStream]:
    if target.redis_url is None:
        pytest.skip("the target gives no Redis URL")
    with EventStream(target.redis_url) as stream:
        yield stream


def completed_order(mes: MesClient, mes_factory: MesFactory, plant: Plant) -> dict[str, Any]:
    order = mes_factory.create_order(plant)
    for action in ("release", "start", "complete"):
        order = expect_status(mes.transition(order["id"], action), 200)
    return order


def delivered_log(
    notification: NotificationClient, subscription_id: str, event_id: str | None = None
) -> list[dict[str, Any]]:
    response = notification.deliveries(subscription_id, event_id=event_id)
    items: list[dict[str, Any]] = expect_status(response, 200)["items"]
    return items


def test_rules_name_their_thresholds_and_the_subscribable_event_types(
    notification: NotificationClient,
) -> None:
    body = expect_status(notification.rules(), 200)

    rules = {rule["name"]: rule for rule in body["items"]}
    assert {"late-order", "held-too-long"} <= set(rules)
    assert rules["held-too-long"]["after_s"] > 0
    assert {"order.completed", "alert.order_late", "alert.order_held_too_long"} <= set(
        body["event_types"]
    )


def test_a_subscription_is_created_once_per_idempotency_key_and_shows_its_secret_once(
    notification: NotificationClient, subscribe: Subscribe
) -> None:
    key = str(uuid.uuid4())
    hook = subscribe(["order.*"])  # a receiver on loopback; the embedded stack allowlists it
    first = notification.create_subscription(
        hook.receiver.url, ["order.completed"], description="idempotent", idempotency_key=key
    )
    again = notification.create_subscription(
        hook.receiver.url, ["order.completed"], description="idempotent", idempotency_key=key
    )

    created = expect_status(first, 201)
    assert created["secret"].startswith("whsec_")
    assert first.headers["Location"] == f"/webhooks/{created['id']}"
    assert expect_status(again, 201)["id"] == created["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    shown = expect_status(notification.subscription(created["id"]), 200)
    assert "secret" not in shown
    assert shown["events"] == ["order.completed"]
    listed = expect_status(notification.subscriptions(), 200)["items"]
    assert [s["id"] for s in listed].count(created["id"]) == 1
    assert notification.delete_subscription(created["id"]).status_code == 204
    expect_problem(notification.subscription(created["id"]), 404, "not-found")


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "http://[fd00:ec2::254]/latest/meta-data/",  # AWS metadata over IPv6 (unique local)
        "http://10.0.0.8/hooks",
        "http://192.168.1.20/hooks",
        "http://172.16.4.1/hooks",
        "http://100.64.0.1/hooks",  # carrier-grade NAT
        "http://[::ffff:169.254.169.254]/hooks",  # IPv4-mapped
        "http://0.0.0.0/hooks",
        "http://nonexistent.invalid/hooks",
        "ftp://example.com/hooks",
        "http://user:secret@example.com/hooks",
        "not a url",
    ],
)
def test_callback_urls_to_private_or_metadata_addresses_are_refused(
    notification: NotificationClient, url: str
) -> None:
    response = notification.create_subscription(url, ["order.completed"])

    body = expect_problem(response, 422, "callback-url-refused")
    assert body["detail"].startswith("url: ")


@pytest.mark.parametrize(
    ("events", "detail"),
    [(["order.shipped"], "no event type matches"), ([], None), (["ORDER"], None)],
)
def test_subscriptions_to_unknown_event_types_are_refused(
    notification: NotificationClient, events: list[str], detail: str | None
) -> None:
    response = notification.create_subscription("http://127.0.0.1:9/hooks", events)

    body = expect_problem(response, 422, "validation-error")
    if detail:
        assert detail in body["detail"]


def test_a_completed_order_is_delivered_once_signed_with_the_subscriptions_secret(
    mes: MesClient, mes_factory: MesFactory, plant: Plant, subscribe: Subscribe
) -> None:
    hook = subscribe(["order.completed"], plant=plant.code)

    order = completed_order(mes, mes_factory, plant)

    (received,) = hook.receiver.wait_for(lambda r: r.json()["subject"] == order["id"])
    body = received.json()
    assert body["type"] == "order.completed"
    assert body["data"]["status"] == "completed"
    assert body["data"]["plant"] == plant.code
    assert received.verified(hook.secret)
    assert not received.verified("whsec_someone-else")
    assert received.headers["content-type"] == "application/json"


def test_a_subscription_gets_only_its_plant_and_event_types(
    notification: NotificationClient,
    mes: MesClient,
    mes_factory: MesFactory,
    plant: Plant,
    subscribe: Subscribe,
) -> None:
    other = mes_factory.create_plant()
    hook = subscribe(["order.released", "order.held"], plant=plant.code)
    witness = subscribe(["order.completed"], plant=other.code)
    ours = mes_factory.create_order(plant)
    theirs = mes_factory.create_order(other)
    for order_id in (ours["id"], theirs["id"]):
        expect_status(mes.transition(order_id, "release"), 200)
        expect_status(mes.transition(order_id, "hold"), 200)
    marker = completed_order(mes, mes_factory, other)

    # The consumer takes events in stream order: once the marker is queued for the witness,
    # every earlier event has been matched against the subscriptions.
    witness.receiver.wait_for(lambda r: r.json()["subject"] == marker["id"])
    log = delivered_log(notification, hook.id)
    received = hook.receiver.wait_for(lambda r: True, count=2)

    expected = {(ours["id"], "order.released"), (ours["id"], "order.held")}
    assert {(d["event_type"]) for d in log} == {"order.released", "order.held"}
    assert len(log) == 2
    assert {(r.json()["subject"], r.json()["type"]) for r in received} == expected
    assert len(hook.receiver.received) == 2


def test_a_failing_receiver_is_retried_with_growing_delays_and_every_attempt_is_logged(
    notification: NotificationClient,
    mes: MesClient,
    mes_factory: MesFactory,
    plant: Plant,
    subscribe: Subscribe,
) -> None:
    hook = subscribe(["order.released"], plant=plant.code, answers=(503, 500, 429))
    order = mes_factory.create_order(plant)
    expect_status(mes.transition(order["id"], "release"), 200)

    received = hook.receiver.wait_for(lambda r: r.json()["subject"] == order["id"], count=4)
    log = settled_deliveries(notification, hook.id)

    (delivery,) = log
    assert delivery["status"] == "delivered"
    assert delivery["delivered_at"]
    attempts = delivery["attempts"]
    assert [a["status_code"] for a in attempts] == [503, 500, 429, 204]
    assert [a["attempt"] for a in attempts] == [1, 2, 3, 4]
    assert len({r.webhook_id for r in received}) == 1  # one Webhook-Id across retries
    assert all(r.verified(hook.secret) for r in received)  # each attempt signed anew
    # Attempt n waits between half and all of a ceiling that doubles per attempt: never less
    # than the wait before it (up to the cap), and each retry starts no earlier than scheduled.
    waits = []
    for attempt, following in itertools.pairwise(attempts):
        answered = parse_time(attempt["started_at"]) + timedelta(
            milliseconds=attempt["duration_ms"]
        )
        scheduled = parse_time(attempt["next_attempt_at"])
        assert parse_time(following["started_at"]) >= scheduled
        waits.append((scheduled - answered).total_seconds())
    assert all(later >= earlier - 0.01 for earlier, later in itertools.pairwise(waits))
    assert waits[0] > 0


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_a_receiver_that_refuses_for_good_is_not_retried(
    notification: NotificationClient,
    mes: MesClient,
    mes_factory: MesFactory,
    plant: Plant,
    subscribe: Subscribe,
) -> None:
    hook = subscribe(["order.released"], plant=plant.code, answers=(410,))
    order = mes_factory.create_order(plant)
    expect_status(mes.transition(order["id"], "release"), 200)

    log = settled_deliveries(notification, hook.id)

    (delivery,) = log
    assert delivery["status"] == "failed"
    assert delivery["last_error"] == "HTTP 410"
    assert [a["status_code"] for a in delivery["attempts"]] == [410]
    assert len(hook.receiver.received) == 1


def alerts_for(
    notification: NotificationClient, user: str, order_id: str, alert_type: str
) -> list[dict[str, Any]]:
    items = expect_status(notification.feed(user, limit=200), 200)["items"]
    return [a for a in items if a["order_id"] == order_id and a["type"] == alert_type]


def test_an_order_past_its_due_date_raises_one_late_alert_read_per_user(
    notification: NotificationClient,
    mes_factory: MesFactory,
    plant: Plant,
    subscribe: Subscribe,
) -> None:
    hook = subscribe(["alert.*"], plant=plant.code)
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    order = mes_factory.create_order(plant, due_date=yesterday)
    planner, colleague = f"planner-{uuid.uuid4()}", f"planner-{uuid.uuid4()}"

    (alert,) = wait_until(
        lambda: alerts_for(notification, planner, order["id"], "alert.order_late"),
        timeout=30,
        description="the late-order alert",
    )
    (received,) = hook.receiver.wait_for(lambda r: r.json()["subject"] == order["id"])
    assert alert["plant"] == plant.code
    assert order["order_ref"] in alert["title"]
    assert alert["read"] is False
    assert received.json()["type"] == "alert.order_late"
    assert received.json()["id"] == alert["id"]
    assert received.verified(hook.secret)

    unread_before = expect_status(notification.feed(colleague), 200)["unread"]
    assert notification.mark_read(planner, alert["number"]).status_code == 204
    assert notification.mark_read(planner, alert["number"]).status_code == 204  # again: fine

    (mine,) = alerts_for(notification, planner, order["id"], "alert.order_late")
    (theirs,) = alerts_for(notification, colleague, order["id"], "alert.order_late")
    assert mine["read"] is True
    assert theirs["read"] is False
    assert expect_status(notification.feed(colleague), 200)["unread"] == unread_before
    unread = expect_status(notification.feed(planner, unread=True, limit=200), 200)["items"]
    assert alert["number"] not in {a["number"] for a in unread}
    # Scanning again raises nothing new for the same order.
    assert len(alerts_for(notification, colleague, order["id"], "alert.order_late")) == 1


def test_an_order_on_hold_longer_than_the_threshold_raises_an_alert_per_hold(
    notification: NotificationClient,
    mes: MesClient,
    mes_factory: MesFactory,
    plant: Plant,
) -> None:
    rules = {r["name"]: r for r in expect_status(notification.rules(), 200)["items"]}
    threshold = float(rules["held-too-long"]["after_s"])
    if threshold > 60:
        pytest.skip(f"the target alerts after {threshold:.0f} s on hold: too long to wait for")
    order = mes_factory.create_order(plant, status="released")
    user = f"planner-{uuid.uuid4()}"

    held = expect_status(mes.transition(order["id"], "hold"), 200)
    (first,) = wait_until(
        lambda: alerts_for(notification, user, order["id"], "alert.order_held_too_long"),
        timeout=threshold + 30,
        description="the hold alert",
    )
    raised = parse_time(first["raised_at"])
    assert raised - parse_time(held["updated_at"]) >= timedelta(seconds=threshold)
    expect_status(mes.transition(order["id"], "resume"), 200)
    expect_status(mes.transition(order["id"], "hold"), 200)

    alerts = wait_until(
        lambda: (
            len(found := alerts_for(notification, user, order["id"], "alert.order_held_too_long"))
            == 2
            and found
        ),
        timeout=threshold + 30,
        description="a second alert for the second hold",
    )
    assert len({a["id"] for a in alerts}) == 2


def test_the_feed_needs_a_user_and_hides_other_plants(
    notification: NotificationClient, mes_factory: MesFactory, plant: Plant
) -> None:
    expect_problem(notification.feed(""), 400, "user-required")
    expect_problem(notification.mark_read("someone", 10**12), 404, "not-found")


def test_a_duplicated_stream_entry_is_delivered_once(
    notification: NotificationClient,
    mes: MesClient,
    mes_factory: MesFactory,
    plant: Plant,
    subscribe: Subscribe,
    events: EventStream,
) -> None:
    hook = subscribe(["order.completed", "order.cancelled"], plant=plant.code)
    order = completed_order(mes, mes_factory, plant)
    hook.receiver.wait_for(lambda r: r.json()["subject"] == order["id"])
    (entry,) = [e for e in events.about([order["id"]]) if e["type"] == "order.completed"][-1:]

    copied = events.redis.xrange(events.stream, min=entry["_entry"], max=entry["_entry"])
    events.redis.xadd(events.stream, copied[0][1])
    marker = mes_factory.create_order(plant)
    expect_status(mes.transition(marker["id"], "cancel"), 200)
    hook.receiver.wait_for(lambda r: r.json()["subject"] == marker["id"])

    completions = [r for r in hook.receiver.received if r.json()["subject"] == order["id"]]
    assert len(completions) == 1
    assert len(delivered_log(notification, hook.id, event_id=entry["id"])) == 1


@pytest.mark.destructive
def test_a_poison_event_goes_to_the_dead_letter_stream_after_the_attempts_and_the_rest_flows_on(
    target: Target,
    mes: MesClient,
    mes_factory: MesFactory,
    plant: Plant,
    subscribe: Subscribe,
    events: EventStream,
) -> None:
    hook = subscribe(["order.cancelled"], plant=plant.code)
    order = mes_factory.create_order(plant)
    poison = poison_like(order)

    poison_id = events.redis.xadd(events.stream, poison).decode()  # type: ignore[union-attr]
    expect_status(mes.transition(order["id"], "cancel"), 200)

    hook.receiver.wait_for(lambda r: r.json()["subject"] == order["id"])  # not blocked by it
    wait_for_dead_poison(events, GROUP, poison_id)


@pytest.mark.destructive
def test_a_dead_consumers_pending_events_are_reclaimed_and_applied(
    mes_factory: MesFactory, plant: Plant, subscribe: Subscribe, events: EventStream
) -> None:
    hook = subscribe(["order.completed"], plant=plant.code)
    order = mes_factory.create_order(plant)
    entry = envelope_like(order)
    ghost = f"ghost-{uuid.uuid4()}"

    # In one transaction: the ghost reads the entry before any live consumer can, then "dies".
    pipe = events.redis.pipeline(transaction=True)
    pipe.xadd(events.stream, entry)  # type: ignore[arg-type]
    pipe.xreadgroup(GROUP, ghost, {events.stream: ">"}, count=1)
    entry_id, taken = pipe.execute()
    assert taken, "the ghost consumer read nothing"
    assert taken[0][1][0][0] == entry_id, "the ghost consumer did not get the entry"

    (received,) = hook.receiver.wait_for(lambda r: r.json()["subject"] == order["id"], timeout=60)
    assert received.json()["id"] == orjson.loads(entry[ENVELOPE])["id"]
    left = events.redis.xpending_range(
        events.stream, GROUP, min="-", max="+", count=100, consumername=ghost
    )
    assert left == []
    events.redis.xgroup_delconsumer(events.stream, GROUP, ghost)
