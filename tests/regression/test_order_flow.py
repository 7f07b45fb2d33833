"""The business cases every release must pass, each one scenario through the gateway."""

import uuid

from fixtures.order_flow import OrderFlow
from preflight.expect import expect_problem, expect_status


def test_an_order_placed_in_the_crm_appears_in_its_plants_queue(flow: OrderFlow) -> None:
    sales_order = flow.place(flow.customer())

    accepted = flow.accepted(sales_order)

    assert accepted["status"] == "accepted"
    production_order = expect_status(flow.planner.get_order(accepted["mes_order_id"]), 200)
    assert production_order["order_ref"] == sales_order["number"]
    assert production_order["status"] == "planned"
    assert production_order["id"] in [o["id"] for o in flow.queue(status="planned")]


def test_released_started_and_completed_operation_by_operation_the_crm_shows_completed(
    flow: OrderFlow,
) -> None:
    sales_order = flow.place(flow.customer())
    order_id = flow.accepted(sales_order)["mes_order_id"]

    expect_status(flow.planner.transition(order_id, "release"), 200)
    flow.shows_progress(sales_order, "released")
    assert order_id in [o["id"] for o in flow.queue()]

    order = expect_status(flow.operator.get_order(order_id), 200)
    for operation in order["operations"]:
        expect_status(flow.operator.operation(order_id, operation["seq"], "start"), 200)
        if operation["seq"] == 1:
            flow.shows_progress(sales_order, "in_progress")
        order = expect_status(flow.operator.operation(order_id, operation["seq"], "complete"), 200)

    assert order["status"] == "completed"
    assert flow.shows_progress(sales_order, "completed")["status"] == "accepted"
    assert order_id not in [o["id"] for o in flow.queue()]


def test_an_order_cancelled_before_it_starts_shows_cancelled_in_the_crm(flow: OrderFlow) -> None:
    sales_order = flow.place(flow.customer())
    order_id = flow.accepted(sales_order)["mes_order_id"]
    expect_status(flow.planner.transition(order_id, "release"), 200)

    expect_status(flow.planner.transition(order_id, "cancel"), 200)

    flow.shows_progress(sales_order, "cancelled")
    assert order_id not in [o["id"] for o in flow.queue()]
    expect_problem(flow.operator.operation(order_id, 1, "start"), 409, "illegal-transition")


def test_an_order_held_and_resumed_leaves_and_rejoins_the_queue(flow: OrderFlow) -> None:
    sales_order = flow.place(flow.customer())
    order_id = flow.accepted(sales_order)["mes_order_id"]
    expect_status(flow.planner.transition(order_id, "release"), 200)

    expect_status(flow.planner.transition(order_id, "hold"), 200)
    flow.shows_progress(sales_order, "on_hold")
    assert order_id not in [o["id"] for o in flow.queue()]

    expect_status(flow.planner.transition(order_id, "resume"), 200)
    flow.shows_progress(sales_order, "released")
    assert order_id in [o["id"] for o in flow.queue()]


def test_a_duplicate_submission_from_the_crm_makes_one_mes_order(flow: OrderFlow) -> None:
    customer = flow.customer()
    order = flow.customers.build_sales_order(customer, sku=flow.plant.skus[0])
    key = str(uuid.uuid4())

    first = expect_status(flow.crm.create_sales_order(order, idempotency_key=key), 201)
    again = expect_status(flow.crm.create_sales_order(order, idempotency_key=key), 201)
    assert again["id"] == first["id"]
    mes_order_id = flow.accepted(first)["mes_order_id"]

    # The CRM resending it (a retry after a lost answer) carries the same key: the same order.
    resent = {
        "order_ref": first["number"],
        "customer_ref": customer["id"],
        "sku": first["sku"],
        "quantity": first["quantity"],
        "due_date": first["due_date"],
        "plant": flow.plant.code,
        "priority": first["priority"],
    }
    replayed = flow.crm.create_order(resent, idempotency_key=first["id"])
    assert expect_status(replayed, 201)["id"] == mes_order_id
    refs = [o["order_ref"] for o in flow.planner.iter_orders(plant=flow.plant.code)]
    assert refs.count(first["number"]) == 1


def test_an_unknown_sku_is_rejected_and_the_crm_shows_why(flow: OrderFlow) -> None:
    sales_order = flow.place(flow.customer(), sku="SKU-NEVER-MADE")

    rejected = flow.accepted(sales_order)

    assert rejected["status"] == "rejected"
    assert rejected["mes_order_id"] is None
    assert "SKU-NEVER-MADE" in rejected["reject_reason"]
    assert rejected["reject_type"].endswith("/unknown-sku")
    assert flow.queue(status="planned") == []


def test_a_priority_change_reorders_the_queue(flow: OrderFlow) -> None:
    customer = flow.customer()
    routine = flow.accepted(flow.place(customer, priority=3))["mes_order_id"]
    later = flow.accepted(flow.place(customer, priority=4))["mes_order_id"]
    for order_id in (routine, later):
        expect_status(flow.planner.transition(order_id, "release"), 200)
    assert [o["id"] for o in flow.queue()] == [routine, later]

    expect_status(flow.planner.update_order(later, {"priority": 1}), 200)

    assert [o["id"] for o in flow.queue()] == [later, routine]
