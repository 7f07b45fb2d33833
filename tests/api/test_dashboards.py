"""The Grafana dashboards query only what the services export, in PromQL that parses."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from fixtures.mes import MesFactory, Plant
from preflight.clients.gateway import GatewayCallers
from preflight.clients.mes import MesClient
from preflight.expect import expect_status
from preflight.targets import Target

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "observability" / "grafana" / "dashboards").glob("*.json"))
RULES = sorted((ROOT / "observability" / "prometheus" / "rules").glob("*.yml"))
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "1m",
    "$service": ".*",
    "$plant": ".*",
    "$run_id": "",
}
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or",
    "unless", "le", "inf", "nan",
}  # fmt: skip
SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def expressions() -> list[tuple[str, str]]:
    found = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                expr = target["expr"]
                for variable, value in GRAFANA_VARIABLES.items():
                    expr = expr.replace(variable, value)
                found.append((f"{path.stem}: {panel['title']}", expr))
    return found


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects: identifiers outside label matchers and strings
    that do not call a function and are not PromQL keywords or durations."""
    bare = re.sub(r"\{[^}]*\}", "", re.sub(r'"[^"]*"', "", expr))
    bare = re.sub(r"\[[^\]]*\]", "", bare)
    bare = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", bare)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", bare):
        after = bare[match.end() :].lstrip()
        if not after.startswith("(") and match.group() not in PROMQL_WORDS:
            names.add(match.group())
    return names


def recorded_names() -> set[str]:
    return {
        rule["record"]
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def exported(target: Target) -> set[str]:
    names = set()
    for url in target.services.values():
        response = httpx.get(f"{url}/metrics", timeout=10)
        response.raise_for_status()
        for family in text_string_to_metric_families(response.text):
            names |= {sample.name for sample in family.samples}
            names.add(family.name)
    return names


def test_the_name_extraction_finds_metrics_and_only_metrics() -> None:
    assert metric_names(
        "histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket"
        '{service=~"mes|crm", route="/orders"}[5m]))) / on (service) group_left up'
    ) == {"http_request_duration_seconds_bucket", "up"}


def test_every_panel_has_a_query_on_the_prometheus_datasource() -> None:
    for path in DASHBOARDS:
        panels = json.loads(path.read_text())["panels"]
        assert len({p["id"] for p in panels}) == len(panels), path.name
        for panel in panels:
            assert panel["targets"], panel["title"]
            assert panel["datasource"]["type"] == "prometheus", panel["title"]


def test_every_panel_query_parses(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: `make setup` installs Debian's prometheus package"
    rules = {
        "groups": [
            {
                "name": "dashboard-panels",
                "rules": [
                    {"record": f"panel:query_{n}", "expr": expr}
                    for n, (_, expr) in enumerate(expressions())
                ],
            }
        ]
    }
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump(rules))

    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)

    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_every_metric_a_panel_names_is_exported_by_the_embedded_services(
    target: Target,
    mes: MesClient,
    mes_factory: MesFactory,
    plant: Plant,
    callers: GatewayCallers,
) -> None:
    if target.stack_dir is None:
        pytest.skip("compares with the metrics of the embedded stack, which runs every service")
    order = mes_factory.create_order(plant, status="released")
    expect_status(mes.transition(order["id"], "start"), 200)
    expect_status(mes.transition(order["id"], "complete"), 200)
    expect_status(callers("admin").get_order(order["id"]), 200)
    known = exported(target) | recorded_names() | {"up"}

    missing = {
        f"{where}: {name}"
        for where, expr in expressions()
        for name in metric_names(expr)
        if name not in known and not any(name + s in known for s in SUFFIXES)
    }

    assert missing == set()
