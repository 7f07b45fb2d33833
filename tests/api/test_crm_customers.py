"""CRM customers: creating them with their contacts, reading them back, listing a plant's."""

import uuid
from typing import Any

import pytest

from fixtures.crm import CrmFactory
from preflight.clients.crm import CrmClient
from preflight.expect import expect_problem, expect_status


def test_a_new_customer_can_be_read_back(crm: CrmClient, crm_factory: CrmFactory) -> None:
    sent = crm_factory.build_customer(crm_factory.build_plant_code())

    response = crm.create_customer(sent)

    created = expect_status(response, 201)
    assert response.headers["location"] == f"/customers/{created['id']}"
    assert response.headers["x-commit-lsn"]
    uuid.UUID(created["id"])
    for field in ("name", "email", "plant", "contacts"):
        assert created[field] == sent[field]
    assert expect_status(crm.get_customer(created["id"]), 200) == created


def test_contacts_are_optional_and_so_is_their_phone(
    crm: CrmClient, crm_factory: CrmFactory
) -> None:
    plant = crm_factory.build_plant_code()
    customer = crm_factory.build_customer(plant)
    del customer["contacts"]
    assert expect_status(crm.create_customer(customer), 201)["contacts"] == []

    contact = crm_factory.build_contact()
    del contact["phone"]
    created = expect_status(
        crm.create_customer(crm_factory.build_customer(plant, contacts=[contact])), 201
    )
    assert created["contacts"] == [{**contact, "phone": None}]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"email": "not-an-address"}, "email"),
        ({"plant": "lower case"}, "plant"),
        ({"plant": "P" * 17}, "plant"),
        ({"contacts": [{"name": "Ann"}]}, "contacts"),
        ({"contacts": [{"name": "Ann", "email": "ann@x.example", "phone": "call me"}]}, "contacts"),
        ({"contacts": "Ann"}, "contacts"),
        ({"vip": True}, "vip"),
    ],
)
def test_invalid_customers_are_refused_naming_the_field(
    crm: CrmClient, crm_factory: CrmFactory, change: dict[str, Any], field: str
) -> None:
    customer = crm_factory.build_customer(crm_factory.build_plant_code(), **change)
    problem = expect_problem(crm.create_customer(customer), 422, "validation-error")
    assert ["body", field] in [error["loc"][:2] for error in problem["errors"]]


@pytest.mark.parametrize("customer_id", ["6f0c7b5e-0000-4000-8000-000000000000", "nobody"])
def test_an_unknown_customer_is_not_found(crm: CrmClient, customer_id: str) -> None:
    expect_problem(crm.get_customer(customer_id), 404, "not-found")


def test_customers_are_listed_per_plant_oldest_first(
    crm: CrmClient, crm_factory: CrmFactory
) -> None:
    plant, other = crm_factory.build_plant_code(), crm_factory.build_plant_code()
    created = [crm_factory.create_customer(plant) for _ in range(3)]
    crm_factory.create_customer(other)

    listed = expect_status(crm.list_customers(plant=plant), 200)

    assert listed == {"items": created, "next_cursor": None}


def test_customer_pages_follow_the_cursor_to_the_end(
    crm: CrmClient, crm_factory: CrmFactory
) -> None:
    plant = crm_factory.build_plant_code()
    created = [crm_factory.create_customer(plant)["id"] for _ in range(5)]

    first = expect_status(crm.list_customers(plant=plant, limit=2), 200)
    second = expect_status(
        crm.list_customers(plant=plant, limit=2, cursor=first["next_cursor"]), 200
    )
    third = expect_status(
        crm.list_customers(plant=plant, limit=2, cursor=second["next_cursor"]), 200
    )

    assert [len(page["items"]) for page in (first, second, third)] == [2, 2, 1]
    assert third["next_cursor"] is None
    assert [c["id"] for page in (first, second, third) for c in page["items"]] == created
    assert [c["id"] for c in crm.iter_customers(plant=plant, limit=3)] == created


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"plant": "lower"}, "plant"),
        ({"cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
    ],
)
def test_bad_customer_list_parameters_are_refused(
    crm: CrmClient, params: dict[str, Any], field: str
) -> None:
    problem = expect_problem(crm.list_customers(**params), 422, "validation-error")
    assert field in problem["detail"]


def test_the_same_key_and_customer_replays_the_first_response(
    crm: CrmClient, crm_factory: CrmFactory
) -> None:
    plant = crm_factory.build_plant_code()
    customer, key = crm_factory.build_customer(plant), str(uuid.uuid4())

    first = crm.create_customer(customer, idempotency_key=key)
    retry = crm.create_customer(customer, idempotency_key=key)

    assert expect_status(retry, 201) == expect_status(first, 201)
    assert retry.headers["idempotent-replayed"] == "true"
    assert [c["id"] for c in crm.iter_customers(plant=plant)] == [first.json()["id"]]


def test_the_same_key_with_another_customer_is_refused(
    crm: CrmClient, crm_factory: CrmFactory
) -> None:
    plant, key = crm_factory.build_plant_code(), str(uuid.uuid4())
    expect_status(crm.create_customer(crm_factory.build_customer(plant), idempotency_key=key), 201)

    expect_problem(
        crm.create_customer(crm_factory.build_customer(plant), idempotency_key=key),
        422,
        "idempotency-key-reused",
    )
    assert len(list(crm.iter_customers(plant=plant))) == 1


def test_a_malformed_min_lsn_is_refused(crm: CrmClient, crm_factory: CrmFactory) -> None:
    customer = crm_factory.create_customer(crm_factory.build_plant_code())
    response = crm.http.get(f"/customers/{customer['id']}", headers={"X-Min-LSN": "yesterday"})
    expect_problem(response, 422, "validation-error")
