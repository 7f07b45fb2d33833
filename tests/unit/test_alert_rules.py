"""The Prometheus alert rules are valid, pass their promtool unit tests, and each one says what
happened and where its runbook is."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = sorted((ROOT / "observability" / "prometheus" / "rules").glob("*.yml"))
RULE_TESTS = sorted((ROOT / "observability" / "prometheus" / "tests").glob("*.yml"))


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: `make setup` installs Debian's prometheus package"
    return found


def alerts() -> list[dict[str, object]]:
    return [
        rule
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def test_the_rule_files_are_valid() -> None:
    done = subprocess.run(
        [promtool(), "check", "rules", *map(str, RULES)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("tests", RULE_TESTS, ids=lambda p: p.name)
def test_the_rules_pass_their_promtool_unit_tests(tests: Path) -> None:
    done = subprocess.run(
        [promtool(), "test", "rules", tests.name],
        capture_output=True,
        text=True,
        cwd=tests.parent,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_summary_a_description_and_a_runbook_that_exists() -> None:
    names = []
    for rule in alerts():
        annotations = rule.get("annotations")
        assert isinstance(annotations, dict), rule["alert"]
        assert {"summary", "description", "runbook_url"} <= annotations.keys(), rule["alert"]
        assert (ROOT / str(annotations["runbook_url"])).is_file(), annotations["runbook_url"]
        names.append(rule["alert"])
    assert {
        "OrderApiErrorBudgetBurnFast",
        "OrderApiLatencyBudgetBurnFast",
        "OutboxLagHigh",
        "ConsumerLagHigh",
        "ReplicaLagHigh",
        "DatabaseConnectionsSaturated",
        "ServiceDown",
    } <= set(names)


def test_every_alerting_rule_is_exercised_by_a_unit_test() -> None:
    tested = {
        case["alertname"]
        for path in RULE_TESTS
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    }
    assert {str(rule["alert"]) for rule in alerts()} <= tested
