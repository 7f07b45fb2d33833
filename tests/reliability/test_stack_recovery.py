"""A destructive test hands the stack back serving (preflight.recovery, run by the plugin after
each one): not while a health check fails, and a gateway breaker left open is closed by the
trial the check sends itself, with no other traffic. Checked on a gateway of the test's own in
front of the stack's MES through a fault proxy, so the stack's own gateway is never touched."""

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.gateway import breaker_state, own_gateway
from preflight.faults import FaultProxy
from preflight.recovery import probe_paths, wait_until_settled
from preflight.targets import Target
from preflight.tokens import mint
from preflight.waits import wait_until

OPEN, CLOSED = 2, 0


@pytest.fixture
def gateway(target: Target, mes_proxy: FaultProxy, tmp_path: Path) -> Iterator[str]:
    settings = {
        "GATEWAY_BREAKER_THRESHOLD": "2",
        "GATEWAY_BREAKER_COOLDOWN_S": "1",
        "GATEWAY_RETRIES": "0",
    }
    with own_gateway(target, mes_proxy.url, tmp_path, settings) as url:
        yield url


def test_every_upstream_has_a_path_to_send_its_trial_to() -> None:
    paths = probe_paths()
    assert set(paths) == {"mes", "crm", "reporting", "notification"}
    assert all(path.startswith("/api/v1/") for path in paths.values())


def test_an_open_breaker_is_closed_by_the_trial_the_recovery_check_sends(
    target: Target, gateway: str, mes_proxy: FaultProxy
) -> None:
    ours = dataclasses.replace(target, services={"gateway": gateway})
    auth = {"Authorization": f"Bearer {mint(target, 'admin')}"}
    mes_proxy.cut()
    with httpx.Client(base_url=gateway, headers=auth, timeout=10) as api:
        wait_until(
            lambda: api.get("/api/v1/orders").status_code == 503 and breaker_state(gateway) == OPEN,
            timeout=30,
            description="the gateway to open its breaker to the cut-off MES",
        )

    still_cut = wait_until_settled(ours, timeout_s=2, interval_s=0.2)
    assert still_cut, "settled while the gateway cannot reach the MES"
    assert any(problem.startswith("gateway /health/ready") for problem in still_cut), still_cut

    mes_proxy.restore()
    assert breaker_state(gateway) == OPEN  # nothing but the recovery check sends to it now
    assert wait_until_settled(ours, timeout_s=30) == []
    assert breaker_state(gateway) == CLOSED
