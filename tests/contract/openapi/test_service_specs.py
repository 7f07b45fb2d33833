"""Every service honours its checked-in OpenAPI document on the running target: Schemathesis
sends positive and negative data to every operation, follows the documents' links (create ->
get -> transition) and checks each response against the document; no 5xx.

A finding is reproducible: the Allure attachment gives the seed and the curl lines.
"""

import allure
import pytest

from fixtures.mes import MesFactory, Plant
from preflight.openapi_check import Budget, Report, check
from preflight.pytest_plugin import service_url
from preflight.targets import Target
from preflight.tokens import mint
from reference_services.openapi_export import spec_path

SERVICES = ("mes", "crm", "gateway", "reporting", "notification")
EXAMPLES = {"gateway": 2}
"""Examples per operation; the gateway's document holds every public operation, so fewer."""


def attach(report: Report, service: str) -> None:
    allure.attach(
        report.text(),
        name=f"schemathesis {service} (seed {report.seed})",
        attachment_type=allure.attachment_type.TEXT,
    )


def headers_for(target: Target, service: str, run_id: str) -> dict[str, str]:
    headers = {**target.headers, "X-Preflight-Run": run_id}
    if service == "gateway" and target.signing_key:
        headers["Authorization"] = f"Bearer {mint(target, 'admin')}"
    return headers


@pytest.fixture
def contract_plant(target: Target, request: pytest.FixtureRequest) -> Plant | None:
    """A plant with work centers and products (when the target has an MES), so that creates in
    generated requests succeed and the stateful phase has real orders to follow links from."""
    if "mes" not in target.services:
        return None
    factory: MesFactory = request.getfixturevalue("mes_factory")
    return factory.create_plant()


@pytest.mark.parametrize("service", SERVICES)
def test_service_honours_its_checked_in_spec(
    service: str, target: Target, run_id: str, contract_plant: Plant | None
) -> None:
    base_url = service_url(target, service)
    has_auth = target.signing_key or "authorization" in {h.lower() for h in target.headers}
    if service == "gateway" and not has_auth:
        pytest.skip("the target gives neither a signing key nor an Authorization header")
    known = (
        {
            "plant": (contract_plant.code,),
            "sku": contract_plant.skus,
            "work_center": contract_plant.work_centers,
        }
        if contract_plant is not None
        else {}
    )
    budget = Budget(max_examples=EXAMPLES.get(service, Budget.max_examples), known=known)

    report = check(str(spec_path(service)), base_url, headers_for(target, service, run_id), budget)

    attach(report, service)
    assert report.operations > 0
    assert report.passed, report.text()
    if service == "mes":
        assert report.links_followed, "the stateful phase followed no link:\n" + report.text()
