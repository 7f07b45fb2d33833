"""The committed pacts (contracts/pacts/) replayed against the real services of the target:
the gateway for the CRM's pact, the MES for the gateway's, and the MES's event stream for the
message pacts of reporting and notification. Provider states create the data each interaction
names (fixtures/pacts.py)."""

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pact import Verifier

from fixtures.pacts import ProviderStates
from preflight.pytest_plugin import service_url
from preflight.targets import Target
from preflight.tokens import mint

pytestmark = pytest.mark.xdist_group("pact-provider-states")  # they share the pacts' plant

PACTS = Path(__file__).resolve().parents[3] / "contracts" / "pacts"


def http_verifier(provider: str, url: str) -> Verifier:
    """A verifier of `provider` answering at `url` (the verifier's host must be the URL's)."""
    return Verifier(provider, host=urlsplit(url).hostname).add_transport(url=url)


def verify(verifier: Verifier) -> None:
    """Run the verification; on a failure, the verifier's own report is the message."""
    try:
        verifier.verify()
    except RuntimeError as error:
        pytest.fail(f"{error}\n{verifier.output(strip_ansi=True)}")


def test_gateway_honours_the_crm_pact(target: Target, provider_states: ProviderStates) -> None:
    url = service_url(target, "gateway")
    if not target.signing_key:
        pytest.skip("the target gives no signing key to mint the CRM's token with")
    token = mint(target, "crm-integration")
    verify(
        http_verifier("gateway", url)
        .add_source(PACTS / "crm-gateway.json")
        .state_handler(provider_states.handlers(), teardown=False)
        .add_custom_header("Authorization", f"Bearer {token}")
    )


def test_mes_honours_the_gateway_pact(target: Target, provider_states: ProviderStates) -> None:
    verify(
        http_verifier("mes", service_url(target, "mes"))
        .add_source(PACTS / "gateway-mes.json")
        .state_handler(provider_states.handlers(), teardown=False)
    )


@pytest.mark.parametrize("consumer", ["reporting", "notification"])
def test_mes_events_honour_the_consumers_message_pacts(
    consumer: str, provider_states: ProviderStates
) -> None:
    verify(
        Verifier("mes-events")
        .message_handler(provider_states.producers())
        .add_source(PACTS / f"{consumer}-mes-events.json")
    )
