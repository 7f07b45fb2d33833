"""After the order flow, what the notification service tells people: the CRM hears of a
completed order once, and planners find alerts in their own feed through the gateway."""

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from faker import Faker

from fixtures.mes import MesFactory
from fixtures.order_flow import Actors, OrderFlow
from preflight.clients.events import EventStream
from preflight.clients.gateway import GatewayClient
from preflight.expect import expect_problem, expect_status
from preflight.targets import Target
from preflight.waits import wait_until


def late_alerts(planner: GatewayClient, order_id: str) -> list[dict[str, Any]]:
    items = expect_status(planner.read("/feed", params={"limit": 200}), 200)["items"]
    return [a for a in items if a["order_id"] == order_id and a["type"] == "alert.order_late"]


def test_a_completed_sales_order_is_called_back_to_the_crm_once(
    flow: OrderFlow, actors: Actors, target: Target
) -> None:
    if "notification" not in target.services:
        pytest.skip("the target runs no notification service")
    sales_order = flow.accepted(flow.place(flow.customer()))
    order_id = sales_order["mes_order_id"]
    assert sales_order["completion_notified_at"] is None

    for action in ("release", "start", "complete"):
        expect_status(flow.planner.transition(order_id, action), 200)

    notified = flow.sales_order_once(
        sales_order, lambda so: so["completion_notified_at"] is not None, "called back"
    )
    assert (
        flow.shows_progress(sales_order, "completed")["completion_notified_at"]
        == (notified["completion_notified_at"])
    )
    if target.redis_url is None:
        return
    with EventStream(target.redis_url) as events:
        (completed,) = [e for e in events.about([order_id]) if e["type"] == "order.completed"]
    admin = actors.as_role("admin")
    hooks = expect_status(admin.read("/webhooks"), 200)["items"]
    (crm,) = [h for h in hooks if h["managed"] and "order.completed" in h["events"]]
    log = expect_status(
        admin.read(f"/webhooks/{crm['id']}/deliveries", params={"event_id": completed["id"]}),
        200,
    )["items"]
    assert [(d["status"], len(d["attempts"])) for d in log] == [("delivered", 1)]


def test_planners_find_a_late_order_in_their_own_feed_and_operators_cannot_read_it(
    flow: OrderFlow, actors: Actors, target: Target, fake: Faker, run_id: str
) -> None:
    if "notification" not in target.services:
        pytest.skip("the target runs no notification service")
    if not target.signing_key:
        pytest.skip("per-user feeds need tokens of several users (the target gives one token)")
    plant = flow.plant.code
    me = actors.as_role("planner", [plant], subject=f"planner-{uuid.uuid4()}")
    colleague = actors.as_role("planner", [plant], subject=f"planner-{uuid.uuid4()}")
    elsewhere = actors.as_role("planner", ["ELSEWHERE"], subject=f"planner-{uuid.uuid4()}")
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    order = MesFactory(flow.planner, fake, run_id).create_order(flow.plant, due_date=yesterday)

    (alert,) = wait_until(
        lambda: late_alerts(me, order["id"]), timeout=30, description="the late-order alert"
    )
    assert alert["read"] is False
    assert order["order_ref"] in alert["title"]
    assert me.write("POST", f"/feed/{alert['number']}/read").status_code == 204

    assert late_alerts(me, order["id"])[0]["read"] is True
    assert late_alerts(colleague, order["id"])[0]["read"] is False
    assert late_alerts(elsewhere, order["id"]) == []
    expect_problem(elsewhere.write("POST", f"/feed/{alert['number']}/read"), 404, "not-found")
    expect_problem(flow.operator.read("/feed"), 403, "forbidden")
