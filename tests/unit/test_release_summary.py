"""The gate's reading of a capacity search, and the release manager's page built from it: the
verdict, capacity against the baseline, the SLO table and the slowest endpoints, in Markdown
and in the Allure report's "release" suite."""

import json
from pathlib import Path
from typing import Any

from preflight.load.gate_step import capacity_verdict
from preflight.report import release_summary
from preflight.report.summary import JunitResults, SuiteCounts
from preflight.verdict import ExitCode


def capacity_document(low: float | None = 120.0, outcome: str | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "kind": "capacity",
        "status": "converged" if low else "too_slow",
        "reason": "band [120, 135]/s within 15%" if low else "SLOs break even at 20/s",
        "band": {"low": low, "high": 135.0},
        "first_breach": {"rate": 135.0, "breaches": ["order writes p99_ms"]},
        "bottleneck": {"text": "mes db_pool_utilisation 1 (was 0.6): 100% of saturation"},
        "usl": {"reason": "fit not meaningful: 3 distinct concurrencies, needs 4", "sigma": None},
        "slo": [
            {
                "group": "order writes",
                "objective": "p99_ms",
                "threshold": 800.0,
                "actual": 240.0,
                "scope": "run",
                "passed": True,
            }
        ],
        "endpoints": {
            "POST /orders": {"requests": 900, "p50": 20.0, "p95": 95.0, "p99": 240.0},
            "GET /orders/{id}": {"requests": 2000, "p50": 4.0, "p95": 12.0, "p99": 30.0},
        },
        "steps": [
            {
                "rate": 120.0,
                "achieved_rps": 119.5,
                "p95_ms": 95.0,
                "p99_ms": 240.0,
                "error_rate": 0.0,
                "verdict": "pass",
                "signals": {"mes": {"cpu_percent": 71.0}},
            },
            {
                "rate": 135.0,
                "achieved_rps": 121.0,
                "p95_ms": 900.0,
                "p99_ms": 2400.0,
                "error_rate": 0.0,
                "verdict": "fail",
                "signals": {},
            },
        ],
    }
    if outcome is not None:
        document["baseline"] = {
            "outcome": outcome,
            "rows": [
                {
                    "what": "max sustainable rate",
                    "baseline": "250-280/s",
                    "current": "120-135/s",
                    "outcome": outcome,
                    "note": "top of the new band 46% below the baseline's",
                }
            ],
        }
    return document


def test_a_capacity_regression_against_the_baseline_fails_the_gate_with_exit_3() -> None:
    verdict = capacity_verdict(capacity_document(outcome="regression"))

    assert verdict.exit_code is ExitCode.SLO_BREACH
    assert "250-280/s -> 120-135/s" in verdict.reason


def test_capacity_below_the_required_rate_or_none_at_all_is_an_slo_breach() -> None:
    assert capacity_verdict(capacity_document(low=20.0)).exit_code is ExitCode.SLO_BREACH
    assert capacity_verdict(capacity_document(low=None)).exit_code is ExitCode.SLO_BREACH


def test_a_capacity_within_the_noise_of_the_baseline_passes() -> None:
    verdict = capacity_verdict(capacity_document(outcome="unchanged"))

    assert verdict.exit_code is ExitCode.PASS
    assert "120/s" in verdict.reason


def test_the_release_summary_answers_on_one_page(tmp_path: Path) -> None:
    chart = tmp_path / "load" / "capacity_throughput.png"
    chart.parent.mkdir()
    chart.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    found = release_summary.sections(
        verdict="slo_breach",
        exit_code=3,
        reason="capacity regressed against the baseline",
        facts={"run": "abc123", "target": "embedded"},
        junit=JunitResults(suites={"api": SuiteCounts(passed=40, failed=0)}),
        load=release_summary.LoadPart(
            "capacity", capacity_document(outcome="regression"), chart.parent
        ),
    )
    results = tmp_path / "allure-results"

    path = release_summary.write(found, tmp_path, results, passed=False)

    page = path.read_text()
    assert path.name == "summary.md"
    assert page.startswith("# Release summary: slo_breach (exit 3)")
    assert "| max sustainable rate | 250-280/s | 120-135/s | regression |" in page
    assert "| order writes | p99_ms | 800 | 240 | run | ok |" in page
    assert page.index("| POST /orders |") < page.index("| GET /orders/{id} |")  # slowest first
    assert "likely bottleneck: mes db_pool_utilisation" in page.lower()
    assert "![capacity_throughput](load/capacity_throughput.png)" in page
    (result,) = [json.loads(p.read_text()) for p in results.glob("*-result.json")]
    assert result["name"] == "Release summary"
    assert result["status"] == "failed"
    assert {"name": "parentSuite", "value": "release"} in result["labels"]
    kinds = {a["type"] for a in result["attachments"]}
    assert kinds == {"text/html", "image/png"}
    (html,) = [a for a in result["attachments"] if a["type"] == "text/html"]
    assert "<table>" in (results / html["source"]).read_text()
