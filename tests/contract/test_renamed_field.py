"""A provider that renames one response field (`status` -> `state`, a test fixture in front of
the real MES) breaks the contract: Schemathesis and the Pact verifier both fail against it, and
both pass against the MES itself."""

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pact import Verifier

from fixtures.mes import MesFactory
from fixtures.pacts import ProviderStates
from fixtures.renamed_field import RenamingProxy, serving
from preflight.openapi_check import Budget, check
from preflight.pytest_plugin import service_url
from preflight.targets import Target
from reference_services.openapi_export import spec_path

pytestmark = pytest.mark.xdist_group("pact-provider-states")  # they share the pacts' plant

PACT = Path(__file__).resolve().parents[2] / "contracts" / "pacts" / "gateway-mes.json"
READS = ("GET /orders", "GET /orders/{order_id}")
SCHEMA_VIOLATION = "ST108"  # Schemathesis: the response violates the document's schema


@pytest.fixture
def mes_url(target: Target) -> str:
    return service_url(target, "mes")


@pytest.fixture
def renamed_mes(mes_url: str) -> Iterator[str]:
    with serving(RenamingProxy(mes_url, "status", "state")) as url:
        yield url


def test_schemathesis_fails_on_a_renamed_response_field(
    mes_url: str, renamed_mes: str, mes_factory: MesFactory
) -> None:
    mes_factory.create_order(mes_factory.create_plant(products=1))  # so GET /orders lists one
    budget = Budget(max_examples=2)

    honest = check(str(spec_path("mes")), mes_url, budget=budget, operations=READS)
    broken = check(str(spec_path("mes")), renamed_mes, budget=budget, operations=READS)

    assert honest.passed, honest.text()
    assert not broken.passed
    violations = [f for f in broken.findings if f.code == SCHEMA_VIOLATION]
    assert violations, broken.text()
    assert any('"status" is a required property' in f.message for f in violations), broken.text()
    assert all(f.curl.startswith("curl ") for f in broken.findings)


def verification(url: str, states: ProviderStates) -> Verifier:
    return (
        Verifier("mes", host=urlsplit(url).hostname)
        .add_transport(url=url)
        .add_source(PACT)
        .state_handler(states.handlers(), teardown=False)
    )


def test_pact_verification_fails_on_a_renamed_response_field(
    mes_url: str, renamed_mes: str, provider_states: ProviderStates
) -> None:
    verification(mes_url, provider_states).verify()

    broken = verification(renamed_mes, provider_states)
    with pytest.raises(RuntimeError):
        broken.verify()
    report = broken.output(strip_ansi=True)
    assert "status" in report, report
    assert "has a matching body (FAILED)" in report, report
