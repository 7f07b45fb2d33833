"""From sales order to production order and back: the CRM submits through the gateway to the MES,
and shows the MES's verdict and then its progress on the sales order.

Needs the CRM, the gateway and the MES of one system. Retries against a failing gateway are
checked deterministically in tests/unit/test_crm_workers.py.
"""

import re
import uuid
from typing import Any

import pytest

from fixtures.crm import CrmFactory
from fixtures.mes import PATH_TO_STATUS, Plant
from preflight.clients.crm import CrmClient
from preflight.clients.mes import MesClient
from preflight.expect import expect_status
from preflight.waits import wait_until

SETTLE_TIMEOUT = 15.0
PROGRESS_TIMEOUT = 5.0


def settled(crm: CrmClient, order: dict[str, Any]) -> dict[str, Any]:
    """The sales order once the MES has accepted or rejected it."""

    def answered() -> dict[str, Any] | None:
        current: dict[str, Any] = expect_status(crm.get_sales_order(order["id"]), 200)
        return current if current["status"] != "submitted" else None

    found: dict[str, Any] = wait_until(
        answered,
        timeout=SETTLE_TIMEOUT,
        interval=0.1,
        description=f"the MES to accept or reject sales order {order['number']}",
    )
    return found


def showing(crm: CrmClient, order: dict[str, Any], mes_status: str) -> dict[str, Any]:
    def shown() -> dict[str, Any] | None:
        current: dict[str, Any] = expect_status(crm.get_sales_order(order["id"]), 200)
        return current if current["mes_status"] == mes_status else None

    found: dict[str, Any] = wait_until(
        shown,
        timeout=PROGRESS_TIMEOUT,
        interval=0.1,
        description=f"sales order {order['number']} to show the MES status {mes_status}",
    )
    return found


@pytest.fixture
def customer(crm_factory: CrmFactory, plant: Plant) -> dict[str, Any]:
    return crm_factory.create_customer(plant.code)


def test_an_order_for_a_product_of_the_plant_is_accepted_by_the_mes(
    crm: CrmClient,
    crm_factory: CrmFactory,
    mes: MesClient,
    plant: Plant,
    customer: dict[str, Any],
) -> None:
    placed = crm_factory.create_sales_order(customer, sku=plant.skus[0])

    accepted = settled(crm, placed)

    assert (accepted["status"], accepted["mes_status"], accepted["reject_reason"]) == (
        "accepted",
        "planned",
        None,
    )
    assert accepted["submit_attempts"] >= 1
    assert accepted["version"] == placed["version"] + 1
    production = expect_status(mes.get_order(accepted["mes_order_id"]), 200)
    assert {
        field: production[field]
        for field in ("order_ref", "customer_ref", "sku", "quantity", "due_date", "plant")
    } == {
        "order_ref": placed["number"],
        "customer_ref": customer["id"],
        "sku": placed["sku"],
        "quantity": placed["quantity"],
        "due_date": placed["due_date"],
        "plant": plant.code,
    }
    assert production["priority"] == placed["priority"]
    product = expect_status(mes.get_product(plant.code, placed["sku"]), 200)
    assert [op["work_center"] for op in production["operations"]] == [
        step["work_center"] for step in product["routing"]
    ]


def test_an_order_for_an_unknown_sku_is_rejected_with_the_mes_reason(
    crm: CrmClient, crm_factory: CrmFactory, mes: MesClient, plant: Plant, customer: dict[str, Any]
) -> None:
    placed = crm_factory.create_sales_order(customer, sku="SKU-NOT-MADE-HERE")

    rejected = settled(crm, placed)

    assert rejected["status"] == "rejected"
    assert rejected["reject_type"] == "https://preflight.dev/problems/unknown-sku"
    assert "SKU-NOT-MADE-HERE" in rejected["reject_reason"]
    assert rejected["mes_order_id"] is rejected["mes_status"] is None
    assert list(mes.iter_orders(plant=plant.code)) == []


def test_a_replayed_order_reaches_the_mes_once(
    crm: CrmClient, crm_factory: CrmFactory, mes: MesClient, plant: Plant, customer: dict[str, Any]
) -> None:
    order, key = crm_factory.build_sales_order(customer, sku=plant.skus[0]), str(uuid.uuid4())
    placed = expect_status(crm.create_sales_order(order, idempotency_key=key), 201)
    expect_status(crm.create_sales_order(order, idempotency_key=key), 201)

    accepted = settled(crm, placed)

    assert [o["id"] for o in mes.iter_orders(plant=plant.code)] == [accepted["mes_order_id"]]


def test_many_orders_placed_at_once_each_become_one_production_order(
    crm: CrmClient, crm_factory: CrmFactory, mes: MesClient, plant: Plant, customer: dict[str, Any]
) -> None:
    placed = [crm_factory.create_sales_order(customer, sku=plant.skus[-1]) for _ in range(8)]

    accepted = [settled(crm, order) for order in placed]

    assert {order["status"] for order in accepted} == {"accepted"}
    production = {o["order_ref"]: o["id"] for o in mes.iter_orders(plant=plant.code)}
    assert production == {order["number"]: order["mes_order_id"] for order in accepted}


@pytest.mark.parametrize(
    "mes_status", ["released", "in_progress", "completed", "cancelled", "on_hold"]
)
def test_the_sales_order_shows_the_production_orders_progress(
    crm: CrmClient,
    crm_factory: CrmFactory,
    mes: MesClient,
    plant: Plant,
    customer: dict[str, Any],
    mes_status: str,
) -> None:
    accepted = settled(crm, crm_factory.create_sales_order(customer, sku=plant.skus[0]))
    assert accepted["status"] == "accepted"

    for action in PATH_TO_STATUS[mes_status]:
        expect_status(mes.transition(accepted["mes_order_id"], action), 200)
    production = expect_status(mes.get_order(accepted["mes_order_id"]), 200)
    assert production["status"] == mes_status

    shown = showing(crm, accepted, mes_status)

    assert shown["status"] == "accepted"
    # The CRM may also have seen the statuses on the way (one new version for each it saw).
    assert (
        accepted["version"]
        < shown["version"]
        <= accepted["version"] + len(PATH_TO_STATUS[mes_status])
    )


def test_every_step_of_production_is_shown_in_turn(
    crm: CrmClient, crm_factory: CrmFactory, mes: MesClient, plant: Plant, customer: dict[str, Any]
) -> None:
    accepted = settled(crm, crm_factory.create_sales_order(customer, sku=plant.skus[0]))
    for action, status in (
        ("release", "released"),
        ("hold", "on_hold"),
        ("resume", "released"),
        ("start", "in_progress"),
        ("complete", "completed"),
    ):
        expect_status(mes.transition(accepted["mes_order_id"], action), 200)
        showing(crm, accepted, status)


def test_submissions_are_counted_in_the_metrics(
    crm: CrmClient, crm_factory: CrmFactory, plant: Plant
) -> None:
    settled(crm, crm_factory.create_sales_order(crm_factory.create_customer(plant.code)))

    text = crm.http.get("/metrics").text

    assert re.search(r'crm_mes_submissions_total\{outcome="rejected"\} [1-9]', text)
