"""Products and their routings, per plant."""

import pytest

from fixtures.mes import MesFactory, Plant
from preflight.clients.mes import MesClient
from preflight.expect import expect_problem, expect_status


def test_a_product_is_listed_and_read_back_in_its_plant(
    mes: MesClient, mes_factory: MesFactory, plant: Plant
) -> None:
    product = mes_factory.create_product(plant.code, plant.work_centers)

    assert expect_status(mes.get_product(plant.code, product["sku"]), 200) == product
    listed = expect_status(mes.list_products(plant.code), 200)["items"]
    assert product in listed
    assert sorted(p["sku"] for p in listed) == sorted([*plant.skus, product["sku"]])


def test_a_sku_is_unique_per_plant(mes: MesClient, mes_factory: MesFactory, plant: Plant) -> None:
    routing = mes_factory.build_routing(plant.work_centers)
    expect_problem(
        mes.create_product(plant.code, plant.skus[0], "again", routing), 409, "duplicate-product"
    )


def test_a_routing_through_an_unknown_work_center_is_refused(mes: MesClient, plant: Plant) -> None:
    routing = [{"work_center": "NOPE-00", "description": "mill", "planned_minutes": 5}]
    problem = expect_problem(
        mes.create_product(plant.code, "SKU-X", "Widget", routing), 422, "unknown-work-center"
    )
    assert "NOPE-00" in problem["detail"]


@pytest.mark.parametrize(
    "routing", [[], [{"work_center": "A", "description": "x", "planned_minutes": 0}]]
)
def test_a_malformed_routing_is_refused(
    mes: MesClient, plant: Plant, routing: list[dict[str, object]]
) -> None:
    expect_problem(
        mes.create_product(plant.code, "SKU-X", "Widget", routing), 422, "validation-error"
    )


def test_an_unknown_product_is_not_found(mes: MesClient, plant: Plant) -> None:
    expect_problem(mes.get_product(plant.code, "SKU-NONE"), 404, "not-found")
