"""X-Plant-Scope, as the gateway sets it from the caller's token: customers and sales orders of
other plants do not exist for the caller."""

from typing import Any

import pytest

from fixtures.crm import CrmFactory
from preflight.clients.crm import CrmClient
from preflight.expect import expect_problem, expect_status


@pytest.fixture
def plants(crm_factory: CrmFactory) -> tuple[str, str]:
    return crm_factory.build_plant_code(), crm_factory.build_plant_code()


@pytest.fixture
def customer(crm_factory: CrmFactory, plants: tuple[str, str]) -> dict[str, Any]:
    return crm_factory.create_customer(plants[0])


@pytest.mark.parametrize("scope", ["{own}", "{other},{own}", "{own}, {other}", "*"])
def test_a_customer_is_visible_within_its_plants_scope(
    crm: CrmClient, customer: dict[str, Any], plants: tuple[str, str], scope: str
) -> None:
    header = scope.format(own=plants[0], other=plants[1])
    assert expect_status(crm.get_customer(customer["id"], plant_scope=header), 200) == customer


@pytest.mark.parametrize("scope", ["{other}", ""])
def test_a_customer_outside_the_scope_is_not_found(
    crm: CrmClient, customer: dict[str, Any], plants: tuple[str, str], scope: str
) -> None:
    expect_problem(
        crm.get_customer(customer["id"], plant_scope=scope.format(other=plants[1])),
        404,
        "not-found",
    )


def test_lists_leave_out_customers_outside_the_scope(
    crm: CrmClient, crm_factory: CrmFactory, customer: dict[str, Any], plants: tuple[str, str]
) -> None:
    own, other = plants
    theirs = crm_factory.create_customer(other)

    assert [c["id"] for c in crm.iter_customers(plant=own, plant_scope=other)] == []
    assert [c["id"] for c in crm.iter_customers(plant_scope=other)] == [theirs["id"]]
    both = crm.iter_customers(plant_scope=f"{own},{other}")
    assert [c["id"] for c in both] == [customer["id"], theirs["id"]]


def test_a_customer_cannot_be_created_outside_the_scope(
    crm: CrmClient, crm_factory: CrmFactory, plants: tuple[str, str]
) -> None:
    own, other = plants
    refused = crm_factory.build_customer(other)
    expect_problem(crm.create_customer(refused, plant_scope=own), 404, "not-found")
    assert list(crm.iter_customers(plant=other)) == []
    expect_status(crm.create_customer(crm_factory.build_customer(own), plant_scope=own), 201)


def test_an_order_for_a_customer_outside_the_scope_names_an_unknown_customer(
    crm: CrmClient, crm_factory: CrmFactory, customer: dict[str, Any], plants: tuple[str, str]
) -> None:
    order = crm_factory.build_sales_order(customer)
    expect_problem(crm.create_sales_order(order, plant_scope=plants[1]), 422, "unknown-customer")
    assert list(crm.iter_sales_orders(customer_id=customer["id"])) == []
    placed = expect_status(crm.create_sales_order(order, plant_scope=plants[0]), 201)
    assert placed["plant"] == plants[0]


def test_sales_orders_outside_the_scope_are_not_found_nor_listed(
    crm: CrmClient, crm_factory: CrmFactory, customer: dict[str, Any], plants: tuple[str, str]
) -> None:
    own, other = plants
    placed = crm_factory.create_sales_order(customer)

    expect_problem(crm.get_sales_order(placed["id"], plant_scope=other), 404, "not-found")
    assert list(crm.iter_sales_orders(customer_id=customer["id"], plant_scope=other)) == []

    assert (
        expect_status(crm.get_sales_order(placed["id"], plant_scope=own), 200)["id"]
        == (placed["id"])
    )
    listed = crm.iter_sales_orders(customer_id=customer["id"], plant_scope=f"{other},{own}")
    assert [o["id"] for o in listed] == [placed["id"]]
