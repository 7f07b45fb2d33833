"""reports/summary.json: the machine-readable answer of one gate run.

Built from pytest's JUnit XML (``--junitxml``) and the gate's own metadata. The schema is
the `Summary` model; `SCHEMA_VERSION` goes up on any change that is not a pure addition.

A suite is the directory under ``tests/`` a test lives in (``tests/api/test_orders.py`` ->
``api``); tests outside ``tests/<suite>/`` are grouped under their top-level directory or
module. Each ``<testcase>`` counts once, by its worst outcome: error > failed > skipped >
passed (pytest writes a second ``<testcase>`` for a test whose teardown errors after it
failed, so such a test shows in both ``failed`` and ``errors``).
``duration_s`` of a suite is the sum of its test times, which exceeds wall time under xdist.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from preflight.report.reliability import ReliabilitySummary

SCHEMA_VERSION: Literal[1] = 1
SUMMARY_FILE = "summary.json"
_MESSAGE_LIMIT = 1000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SuiteCounts(_Model):
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    duration_s: float = 0.0

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.errors + self.skipped


class Failure(_Model):
    nodeid: str
    kind: Literal["failed", "error"]
    message: str


class HealthEntry(_Model):
    name: str
    ok: bool
    detail: str


class SpecChanges(_Model):
    spec: str
    breaking: list[str] = Field(default_factory=list)
    additive: int = 0


class BreakingChangesEntry(_Model):
    """The gate's comparison of the working tree's OpenAPI specs with those on `base_ref`."""

    status: Literal["pass", "fail", "skipped"]
    reason: str
    base_ref: str
    specs: list[SpecChanges] = Field(default_factory=list)


class ReportPaths(_Model):
    """Paths relative to the directory holding summary.json; null when not produced."""

    allure_html: str | None = None
    junit: str | None = None
    history: str | None = None


class JunitResults(_Model):
    suites: dict[str, SuiteCounts] = Field(default_factory=dict)
    failures: list[Failure] = Field(default_factory=list)

    @property
    def totals(self) -> SuiteCounts:
        return _add(self.suites.values())


class Summary(_Model):
    schema_version: Literal[1] = SCHEMA_VERSION
    verdict: str
    exit_code: int
    reason: str
    run_id: str
    target: str
    git_sha: str | None
    started_at: datetime
    finished_at: datetime
    duration_s: float
    selected_suites: list[str]
    totals: SuiteCounts
    suites: dict[str, SuiteCounts]
    failures: list[Failure]
    health: list[HealthEntry] = Field(default_factory=list)
    reports: ReportPaths
    warnings: list[str] = Field(default_factory=list)
    reliability: ReliabilitySummary | None = None
    """Faults survived, writes acknowledged and lost (tests/reliability; see report.reliability)."""
    breaking_changes: BreakingChangesEntry | None = None
    ui_performance: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Page load figures the perf tests recorded (see preflight/page_timings)",
    )


def parse_junit(path: Path) -> JunitResults:
    """Count outcomes per suite and collect failures from a pytest JUnit XML file."""
    root = ElementTree.parse(path).getroot()
    counts: dict[str, dict[str, float]] = {}
    failures: list[Failure] = []
    for case in root.iter("testcase"):
        nodeid = _nodeid(case.get("classname", ""), case.get("name", ""), case.get("file"))
        suite = suite_of(nodeid)
        outcome, message = _outcome(case)
        bucket = counts.setdefault(
            suite, {"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "duration_s": 0.0}
        )
        bucket[outcome] += 1
        bucket["duration_s"] += float(case.get("time") or 0.0)
        if outcome == "failed":
            failures.append(Failure(nodeid=nodeid, kind="failed", message=message))
        elif outcome == "errors":
            failures.append(Failure(nodeid=nodeid, kind="error", message=message))
    suites = {
        name: SuiteCounts(
            passed=int(bucket["passed"]),
            failed=int(bucket["failed"]),
            errors=int(bucket["errors"]),
            skipped=int(bucket["skipped"]),
            duration_s=round(bucket["duration_s"], 3),
        )
        for name, bucket in sorted(counts.items())
    }
    return JunitResults(suites=suites, failures=failures)


def suite_of(nodeid: str) -> str:
    path = PurePosixPath(nodeid.split("::", 1)[0])
    parts = path.parts
    if len(parts) >= 2 and parts[0] == "tests" and not parts[1].endswith(".py"):
        return parts[1]
    if len(parts) >= 2:
        return parts[0]
    return path.stem or "unknown"


def build_summary(
    *,
    verdict: str,
    exit_code: int,
    reason: str,
    run_id: str,
    target: str,
    git_sha: str | None,
    started_at: datetime,
    finished_at: datetime,
    selected_suites: list[str],
    junit: JunitResults | None,
    reports: ReportPaths,
    health: list[HealthEntry] | None = None,
    warnings: list[str] | None = None,
    reliability: ReliabilitySummary | None = None,
    breaking_changes: BreakingChangesEntry | None = None,
    ui_performance: list[dict[str, Any]] | None = None,
) -> Summary:
    results = junit or JunitResults()
    return Summary(
        verdict=verdict,
        exit_code=exit_code,
        reason=reason,
        run_id=run_id,
        target=target,
        git_sha=git_sha,
        started_at=started_at,
        finished_at=finished_at,
        duration_s=round((finished_at - started_at).total_seconds(), 3),
        selected_suites=selected_suites,
        totals=results.totals,
        suites=results.suites,
        failures=results.failures,
        health=health or [],
        reports=reports,
        warnings=warnings or [],
        reliability=reliability,
        breaking_changes=breaking_changes,
        ui_performance=ui_performance or [],
    )


def write_summary(summary: Summary, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(summary.model_dump_json(indent=2) + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def read_summary(path: Path) -> Summary:
    return Summary.model_validate_json(path.read_text(encoding="utf-8"))


def _outcome(case: ElementTree.Element) -> tuple[str, str]:
    for tag, outcome in (("error", "errors"), ("failure", "failed"), ("skipped", "skipped")):
        element = case.find(tag)
        if element is not None:
            return outcome, _message(element)[:_MESSAGE_LIMIT]
    return "passed", ""


def _message(element: ElementTree.Element) -> str:
    message = element.get("message") or ""
    lines = [line.strip() for line in (element.text or "").splitlines() if line.strip()]
    if not message:
        return lines[0] if lines else ""
    if message == "collection failure" and lines:
        raised = [line[1:].strip() for line in lines if line.startswith("E ")]
        return f"{message}: {raised[-1] if raised else ' '.join(lines[:3])}"
    return message


def _nodeid(classname: str, name: str, file: str | None) -> str:
    """The pytest nodeid of a JUnit test case.

    ``tests.api.test_x.TestY`` + ``test_z`` -> ``tests/api/test_x.py::TestY::test_z``; a
    collection error has no classname and the collector's dotted path as its name.
    """
    collector = not classname
    if collector:
        classname, name = name, ""
    parts = [part for part in classname.split(".") if part]
    classes: list[str] = []
    while parts and parts[-1][:1].isupper():
        classes.insert(0, parts.pop())
    module = "/".join(parts)
    if file:
        module = file
    elif parts and (not collector or _looks_like_module(parts[-1])):
        module += ".py"
    return "::".join(part for part in (module, *classes, name) if part)


def _looks_like_module(name: str) -> bool:
    return name.startswith("test") or name.endswith("_test") or name == "conftest"


def _add(counts: Iterable[SuiteCounts]) -> SuiteCounts:
    total = SuiteCounts()
    for suite in counts:
        total = SuiteCounts(
            passed=total.passed + suite.passed,
            failed=total.failed + suite.failed,
            errors=total.errors + suite.errors,
            skipped=total.skipped + suite.skipped,
            duration_s=round(total.duration_s + suite.duration_s, 3),
        )
    return total
