"""The bundled order-flow scenario against the stack the tests run on: it runs at 60 requests
per second without an error and within its objectives, breaks them (exit 3) when the MES answers
half a second late, and `preflight load cleanup` cancels what a run left open.

The 60/s run is judged by load/slo.yaml with every latency objective five times looser: its
latency is the shared machine's as much as the stack's (p95 20 ms for reads on an idle machine,
225 ms once in CI, 1.9 s once here while another worker's stack shut down before the plugin made
such teardowns wait for the machine), so the test checks the run and its verdict, not the clock;
the bundled objectives themselves are what `preflight load run` and `make gate` apply. Error rate
and throughput objectives are unchanged.

Each test runs alone (destructive: only on a stack Preflight started, and exclusive; slow: no
other slow test runs meanwhile), so other tests neither slow it down nor see its load.
"""

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from preflight import stack
from preflight.clients.gateway import GatewayClient
from preflight.faults import FaultProxy
from preflight.load import runner, slo
from preflight.targets import Target, write_profile

pytestmark = [pytest.mark.slow, pytest.mark.destructive]

PREFLIGHT = str(Path(sys.executable).with_name("preflight"))
LATENCY_OBJECTIVES = ("p95_ms", "p99_ms")
LATENCY_SLACK = 5


def loosened_slo(path: Path) -> Path:
    """load/slo.yaml with each latency objective LATENCY_SLACK times looser, the rest as is."""
    bundled = slo.load(runner.DEFAULT_SLO)
    groups = tuple(
        dataclasses.replace(
            group,
            objectives={
                name: value * LATENCY_SLACK if name in LATENCY_OBJECTIVES else value
                for name, value in group.objectives.items()
            },
        )
        for group in bundled.groups
    )
    return slo.dump(dataclasses.replace(bundled, groups=groups), path)


@pytest.fixture
def profile(target: Target, tmp_path: Path) -> Path:
    if "gateway" not in target.services or not target.signing_key:
        pytest.skip("the scenario needs the gateway and a signing key")
    return write_profile(target, tmp_path / "target.toml")


def load_run(out: Path, *args: str) -> tuple[int, dict[str, Any] | None, str]:
    completed = subprocess.run(
        [PREFLIGHT, "load", "run", "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    written = out / "results.json"
    document = json.loads(written.read_text()) if written.is_file() else None
    return completed.returncode, document, completed.stdout + completed.stderr


@pytest.mark.perf  # measures the stack's latency: the other workers pause while it runs
def test_the_order_flow_holds_its_slos_at_60_requests_per_second(
    profile: Path, tmp_path: Path
) -> None:
    objectives = loosened_slo(tmp_path / "slo.yaml")
    code, document, output = load_run(
        tmp_path / "run",
        *("--scenario", "order_flow", "--target", str(profile), "--slo", str(objectives)),
        *("--rate", "60", "--duration", "30s"),
    )

    assert code == 0, output
    assert document is not None
    assert document["slo"]["passed"] is True
    applied = {(r["group"], r["objective"]): r["threshold"] for r in document["slo"]["rows"]}
    for group in slo.load(runner.DEFAULT_SLO).groups:
        for name, bundled in group.objectives.items():
            slack = LATENCY_SLACK if name in LATENCY_OBJECTIVES else 1
            assert applied[(group.name, name)] == bundled * slack, (group.name, name)
    assert document["total"]["errors"] == 0
    assert 60 * 30 * 0.9 <= document["total"]["requests"] <= 60 * 30 * 1.05
    assert {"POST /orders", "POST /orders/{id}/release", "GET /reports/orders-by-status"} <= set(
        document["endpoints"]
    )


@pytest.fixture
def slow_mes(target: Target) -> Iterator[FaultProxy]:
    """The gateway reaches the MES through a proxy adding 0.5 s to every request."""
    assert target.stack_dir is not None
    state_dir = Path(target.stack_dir)
    mes = urlsplit(target.url("mes"))
    assert mes.hostname is not None
    assert mes.port is not None
    with FaultProxy((mes.hostname, mes.port), latency_s=0.5) as proxy:
        stack.stop_service("gateway", state_dir=state_dir)
        try:
            stack.start_service("gateway", state_dir=state_dir, env={"GATEWAY_MES_URL": proxy.url})
            yield proxy
        finally:
            stack.stop_service("gateway", state_dir=state_dir)
            stack.start_service("gateway", state_dir=state_dir)


def test_a_mes_answering_half_a_second_late_breaks_the_slos_with_exit_3(
    profile: Path, tmp_path: Path, slow_mes: FaultProxy
) -> None:
    code, document, output = load_run(
        tmp_path,
        *("--scenario", "order_flow", "--target", str(profile)),
        *("--rate", "20", "--duration", "10s"),
    )

    assert code == 3, output
    assert document is not None
    breached = {(r["group"], r["objective"]) for r in document["slo"]["rows"] if not r["passed"]}
    assert {("order writes", "p95_ms"), ("order reads", "p95_ms")} <= breached
    assert ("reports", "p95_ms") not in breached  # the reporting service is not behind the proxy
    assert slow_mes.connections > 0


def test_cleanup_cancels_the_orders_a_run_left_open(
    target: Target, profile: Path, tmp_path: Path, run_id: str
) -> None:
    code, document, output = load_run(
        tmp_path,
        *("--scenario", "order_flow", "--target", str(profile)),
        *("--rate", "20", "--duration", "5s"),
    )
    assert code == 0, output
    assert document is not None
    load_run_id = document["run_id"]

    cleaned = subprocess.run(
        [PREFLIGHT, "load", "cleanup", "--run", load_run_id, "--target", str(profile)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert cleaned.returncode == 0, cleaned.stderr
    assert "cancelled" in cleaned.stdout
    with GatewayClient.for_target(target, "admin", run_id=run_id) as admin:
        left = [
            o
            for o in admin.iter_orders(status=["planned", "released", "on_hold"])
            if o["order_ref"].startswith(f"PF-{load_run_id}-")
        ]
    assert left == []
