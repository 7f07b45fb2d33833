"""Work centers and operators: the plant's resources that orders are planned on."""

import pytest

from fixtures.mes import MesFactory, Plant
from preflight.clients.mes import MesClient
from preflight.expect import expect_problem, expect_status


def test_work_centers_are_listed_per_plant(mes: MesClient, mes_factory: MesFactory) -> None:
    plant, other = (
        mes_factory.create_plant(work_centers=3),
        mes_factory.create_plant(work_centers=2),
    )

    listed = expect_status(mes.list_work_centers(plant.code), 200)["items"]

    assert [wc["code"] for wc in listed] == sorted(plant.work_centers)
    assert {wc["plant"] for wc in listed} == {plant.code}
    assert len(expect_status(mes.list_work_centers(other.code), 200)["items"]) == 2


def test_a_work_center_code_is_unique_per_plant(mes: MesClient, plant: Plant) -> None:
    expect_problem(
        mes.create_work_center(plant.code, plant.work_centers[0], "again"),
        409,
        "duplicate-work-center",
    )


@pytest.mark.parametrize(
    ("plant_code", "code"), [("p1", "CNC-01"), ("P1", ""), ("P1", "has space"), ("", "CNC-01")]
)
def test_malformed_work_centers_are_refused(mes: MesClient, plant_code: str, code: str) -> None:
    expect_problem(mes.create_work_center(plant_code, code, "Lathe"), 422, "validation-error")


def test_listing_work_centers_needs_a_plant(mes: MesClient) -> None:
    expect_problem(mes.http.get("/work-centers"), 422, "validation-error")


@pytest.mark.parametrize("role", ["operator", "planner"])
def test_an_operator_is_assigned_to_a_work_center(
    mes: MesClient, mes_factory: MesFactory, plant: Plant, role: str
) -> None:
    name = mes_factory.fake.name()

    created = expect_status(
        mes.create_operator(name, plant.code, work_center=plant.work_centers[0], role=role), 201
    )

    assert (created["name"], created["plant"], created["work_center"], created["role"]) == (
        name,
        plant.code,
        plant.work_centers[0],
        role,
    )
    assert expect_status(mes.get_operator(created["id"]), 200) == created


def test_an_operator_cannot_work_at_an_unknown_work_center(mes: MesClient, plant: Plant) -> None:
    expect_problem(
        mes.create_operator("Ann", plant.code, work_center="NOPE-00"), 422, "unknown-work-center"
    )


def test_an_operator_role_is_operator_or_planner(mes: MesClient, plant: Plant) -> None:
    expect_problem(mes.create_operator("Ann", plant.code, role="admin"), 422, "validation-error")


@pytest.mark.parametrize("operator_id", ["6f0c7b5e-0000-4000-8000-000000000000", "nobody"])
def test_an_unknown_operator_is_not_found(mes: MesClient, operator_id: str) -> None:
    expect_problem(mes.get_operator(operator_id), 404, "not-found")
