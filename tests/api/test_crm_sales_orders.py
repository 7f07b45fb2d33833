"""CRM sales orders: placing them, reading and listing them, and what is refused.

The plants here have no products in the MES, so every order placed ends up rejected; these tests
look at what the CRM records, test_crm_submission.py at what the MES makes of it.
"""

import re
import uuid
from typing import Any

import pytest

from fixtures.crm import CrmFactory
from preflight.clients.crm import CrmClient
from preflight.expect import expect_problem, expect_status
from preflight.waits import wait_until

PLACED = ("id", "number", "customer_id", "plant", "sku", "quantity", "due_date", "priority")
PLACED += ("created_at",)


@pytest.fixture
def customer(crm_factory: CrmFactory) -> dict[str, Any]:
    return crm_factory.create_customer(crm_factory.build_plant_code())


def test_a_placed_order_is_submitted_in_its_customers_plant(
    crm: CrmClient, crm_factory: CrmFactory, customer: dict[str, Any]
) -> None:
    sent = crm_factory.build_sales_order(customer)

    response = crm.create_sales_order(sent)

    placed = expect_status(response, 201)
    assert response.headers["location"] == f"/sales-orders/{placed['id']}"
    assert response.headers["x-commit-lsn"]
    assert re.fullmatch(r"SO-\d{6,}", placed["number"])
    assert placed["plant"] == customer["plant"]
    for field in ("customer_id", "sku", "quantity", "due_date", "priority"):
        assert placed[field] == sent[field]
    assert {k: placed[k] for k in ("status", "version", "submit_attempts")} == {
        "status": "submitted",
        "version": 1,
        "submit_attempts": 0,
    }
    assert placed["mes_order_id"] is placed["mes_status"] is placed["reject_reason"] is None
    read = expect_status(crm.get_sales_order(placed["id"]), 200)
    assert {k: read[k] for k in PLACED} == {k: placed[k] for k in PLACED}


def test_priority_defaults_to_normal(
    crm: CrmClient, crm_factory: CrmFactory, customer: dict[str, Any]
) -> None:
    order = crm_factory.build_sales_order(customer)
    del order["priority"]
    assert expect_status(crm.create_sales_order(order), 201)["priority"] == 3


def test_orders_are_numbered_in_sequence(crm_factory: CrmFactory, customer: dict[str, Any]) -> None:
    first, second = (crm_factory.create_sales_order(customer) for _ in range(2))
    assert int(second["number"].removeprefix("SO-")) > int(first["number"].removeprefix("SO-"))


def test_an_order_for_an_unknown_customer_is_refused(
    crm: CrmClient, crm_factory: CrmFactory
) -> None:
    nobody = {"id": "6f0c7b5e-0000-4000-8000-000000000000"}
    problem = expect_problem(
        crm.create_sales_order(crm_factory.build_sales_order(nobody)), 422, "unknown-customer"
    )
    assert nobody["id"] in problem["detail"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"customer_id": "nobody"}, "customer_id"),
        ({"quantity": 0}, "quantity"),
        ({"quantity": "many"}, "quantity"),
        ({"priority": 0}, "priority"),
        ({"priority": 6}, "priority"),
        ({"due_date": "tomorrow"}, "due_date"),
        ({"sku": ""}, "sku"),
        ({"sku": None}, "sku"),
        ({"status": "accepted"}, "status"),
    ],
)
def test_invalid_orders_are_refused_naming_the_field(
    crm: CrmClient,
    crm_factory: CrmFactory,
    customer: dict[str, Any],
    change: dict[str, Any],
    field: str,
) -> None:
    order = crm_factory.build_sales_order(customer, **change)
    problem = expect_problem(crm.create_sales_order(order), 422, "validation-error")
    assert ["body", field] in [error["loc"][:2] for error in problem["errors"]]
    assert list(crm.iter_sales_orders(customer_id=customer["id"])) == []


@pytest.mark.parametrize("order_id", ["6f0c7b5e-0000-4000-8000-000000000000", "SO-000001"])
def test_an_unknown_order_is_not_found(crm: CrmClient, order_id: str) -> None:
    expect_problem(crm.get_sales_order(order_id), 404, "not-found")


def test_orders_are_listed_per_customer_oldest_first(
    crm: CrmClient, crm_factory: CrmFactory, customer: dict[str, Any]
) -> None:
    placed = [crm_factory.create_sales_order(customer)["id"] for _ in range(5)]
    crm_factory.create_sales_order(crm_factory.create_customer(customer["plant"]))

    first = expect_status(crm.list_sales_orders(customer_id=customer["id"], limit=2), 200)
    rest = list(crm.iter_sales_orders(customer_id=customer["id"], cursor=first["next_cursor"]))

    assert [o["id"] for o in first["items"] + rest] == placed
    assert {o["customer_id"] for o in rest} == {customer["id"]}


def test_orders_are_filtered_by_status(
    crm: CrmClient, crm_factory: CrmFactory, customer: dict[str, Any]
) -> None:
    placed = crm_factory.create_sales_order(customer)
    wait_until(
        lambda: crm.get_sales_order(placed["id"]).json()["status"] == "rejected",
        timeout=10,
        description="the MES to reject an order for a plant without products",
    )

    def ids(status: str | list[str]) -> list[str]:
        return [o["id"] for o in crm.iter_sales_orders(customer_id=customer["id"], status=status)]

    assert ids("rejected") == ids(["submitted", "rejected"]) == [placed["id"]]
    assert ids("submitted") == ids("accepted") == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "shipped"}, "status"),
        ({"customer_id": "nobody"}, "customer_id"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"cursor": "garbage"}, "cursor"),
    ],
)
def test_bad_order_list_parameters_are_refused(
    crm: CrmClient, params: dict[str, Any], field: str
) -> None:
    problem = expect_problem(crm.list_sales_orders(**params), 422, "validation-error")
    assert field in problem["detail"]


def test_the_same_key_and_order_replays_the_first_response(
    crm: CrmClient, crm_factory: CrmFactory, customer: dict[str, Any]
) -> None:
    order, key = crm_factory.build_sales_order(customer), str(uuid.uuid4())

    first = crm.create_sales_order(order, idempotency_key=key)
    retry = crm.create_sales_order(order, idempotency_key=key)

    assert expect_status(retry, 201) == expect_status(first, 201)
    assert retry.headers["idempotent-replayed"] == "true"
    listed = crm.iter_sales_orders(customer_id=customer["id"])
    assert [o["id"] for o in listed] == [first.json()["id"]]


def test_the_same_key_with_another_order_is_refused(
    crm: CrmClient, crm_factory: CrmFactory, customer: dict[str, Any]
) -> None:
    key = str(uuid.uuid4())
    expect_status(
        crm.create_sales_order(crm_factory.build_sales_order(customer), idempotency_key=key), 201
    )

    expect_problem(
        crm.create_sales_order(crm_factory.build_sales_order(customer), idempotency_key=key),
        422,
        "idempotency-key-reused",
    )
    assert len(list(crm.iter_sales_orders(customer_id=customer["id"]))) == 1


def test_a_refused_order_does_not_use_up_its_key(
    crm: CrmClient, crm_factory: CrmFactory, customer: dict[str, Any]
) -> None:
    key = str(uuid.uuid4())
    unknown = crm_factory.build_sales_order({"id": str(uuid.uuid4())})
    expect_problem(crm.create_sales_order(unknown, idempotency_key=key), 422, "unknown-customer")
    expect_problem(crm.create_sales_order(unknown, idempotency_key=key), 422, "unknown-customer")


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_malformed_keys_are_refused(
    crm: CrmClient, crm_factory: CrmFactory, customer: dict[str, Any], key: str
) -> None:
    response = crm.http.post(
        "/sales-orders",
        json=crm_factory.build_sales_order(customer),
        headers={"Idempotency-Key": key},
    )
    expect_problem(response, 422, "validation-error")
