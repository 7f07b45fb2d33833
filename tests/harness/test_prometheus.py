"""`preflight stack up --with-prometheus`: a real Prometheus scrapes every service and fires the
alert rules on what really happens, here a paused replica."""

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from preflight import stack
from preflight.prometheus import PrometheusApi, configuration
from preflight.stack import StackInfo
from preflight.waits import WaitTimeout, wait_until
from reference_services.catalog import SERVICES

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("prometheus")]


@pytest.fixture(scope="module")
def observed_stack(module_scratch: Path) -> Iterator[StackInfo]:
    with stack.running(state_dir=module_scratch / "stack", with_prometheus=True) as info:
        yield info


def test_the_configuration_scrapes_each_service_as_its_own_job() -> None:
    config = configuration({"mes": "http://127.0.0.1:8001", "crm": "http://127.0.0.1:8002"})

    jobs = {job["job_name"]: job["static_configs"][0] for job in config["scrape_configs"]}

    assert jobs == {"crm": {"targets": ["127.0.0.1:8002"]}, "mes": {"targets": ["127.0.0.1:8001"]}}
    assert config["rule_files"], "the alert rules are loaded"


def test_every_embedded_service_is_an_up_target(observed_stack: StackInfo) -> None:
    api = PrometheusApi(observed_stack.prometheus_url)

    def all_up() -> dict[str, str] | None:
        health = {t["labels"]["job"]: t["health"] for t in api.targets()}
        return health if set(health.values()) == {"up"} and len(health) == len(SERVICES) else None

    health = wait_until(all_up, timeout=30, interval=0.5, description="every target up")

    assert set(health) == {service.name for service in SERVICES}
    assert {r["metric"]["job"] for r in api.query("up == 1")} == set(health)


def test_a_paused_replica_fires_the_replica_lag_alert(observed_stack: StackInfo) -> None:
    api = PrometheusApi(observed_stack.prometheus_url)
    primary = observed_stack.database_dsn("mes")
    replica = observed_stack.database_dsn("mes", replica=True)
    with psycopg.connect(replica, autocommit=True) as standby:
        standby.execute("SELECT pg_wal_replay_pause()")
        try:
            with psycopg.connect(primary, autocommit=True) as conn:
                conn.execute("CREATE TABLE lag_probe (id int)")  # WAL the replica cannot replay
            try:
                firing = wait_until(
                    lambda: [
                        alert
                        for alert in api.firing("ReplicaLagHigh")
                        if alert["labels"].get("service") == "mes"
                    ],
                    timeout=180,
                    interval=1,
                    description="ReplicaLagHigh to fire for the MES",
                )
            except WaitTimeout as timeout:
                seen = {
                    r["metric"].get("service"): r["value"][1]
                    for r in api.query("db_replica_lag_seconds")
                }
                health = {t["labels"]["job"]: t["health"] for t in api.targets()}
                states = [(a["labels"]["alertname"], a["state"]) for a in api.alerts()]
                raise AssertionError(
                    f"{timeout}: db_replica_lag_seconds {seen}, targets {health}, alerts {states}"
                ) from timeout
        finally:
            standby.execute("SELECT pg_wal_replay_resume()")

    assert firing[0]["annotations"]["runbook_url"] == "observability/runbooks/replica-lag.md"
    wait_until(
        lambda: not api.firing("ReplicaLagHigh"),
        timeout=60,
        interval=1,
        description="the alert to resolve once replay resumes",
    )
