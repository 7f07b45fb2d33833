"""A load run as Allure results: one test per SLO objective (passed or failed, the measured
value against its threshold), under the suite "load", with the run's charts and results.json
attached, so the gate's report shows them beside the functional tests."""

import json
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

CHARTS = ("throughput.png", "latency.png")


def write_allure_results(document: dict[str, Any], out: Path, results_dir: Path, label: str) -> int:
    """Write the results into an allure-results directory; returns how many tests."""
    results_dir.mkdir(parents=True, exist_ok=True)
    attachments = []
    for name in (*CHARTS, "results.json"):
        source = out / name
        if source.is_file():
            target = f"{uuid.uuid4()}-attachment{source.suffix}"
            shutil.copyfile(source, results_dir / target)
            kind = "image/png" if source.suffix == ".png" else "application/json"
            attachments.append({"name": name, "source": target, "type": kind})
    now = int(time.time() * 1000)
    rows = (document.get("slo") or {}).get("rows", [])
    generator = document.get("generator", {})
    tests = [
        _test(
            name=f"SLO {row['group']}: {row['objective']}",
            passed=bool(row["passed"]),
            message=f"measured {row['actual']} against {row['threshold']} ({row['scope']})",
            label=label,
            attachments=attachments,
            at=now,
        )
        for row in rows
    ]
    tests.append(
        _test(
            name="load generator health",
            passed=bool(generator.get("valid", True)),
            message="; ".join(generator.get("problems", [])) or "every generator kept up",
            label=label,
            attachments=attachments,
            at=now,
            broken=True,
        )
    )
    for test in tests:
        (results_dir / f"{test['uuid']}-result.json").write_text(json.dumps(test))
    return len(tests)


def _test(
    *,
    name: str,
    passed: bool,
    message: str,
    label: str,
    attachments: list[dict[str, str]],
    at: int,
    broken: bool = False,
) -> dict[str, Any]:
    return {
        "uuid": str(uuid.uuid4()),
        "historyId": f"load:{label}:{name}",
        "name": name,
        "fullName": f"load.{label}.{name}",
        "status": "passed" if passed else ("broken" if broken else "failed"),
        "statusDetails": {"message": message},
        "stage": "finished",
        "start": at,
        "stop": at,
        "labels": [
            {"name": "parentSuite", "value": "load"},
            {"name": "suite", "value": label},
            {"name": "feature", "value": "SLO"},
        ],
        "attachments": attachments,
    }


def write_test(
    results_dir: Path,
    *,
    name: str,
    suite: str,
    passed: bool,
    message: str,
    files: list[Path],
    parent: str = "load",
    html: str | None = None,
) -> Path:
    """One Allure test with the given files (PNG, JSON) and an optional HTML page attached."""
    results_dir.mkdir(parents=True, exist_ok=True)
    attachments = []
    if html is not None:
        source = f"{uuid.uuid4()}-attachment.html"
        (results_dir / source).write_text(html)
        attachments.append({"name": f"{name}.html", "source": source, "type": "text/html"})
    for path in files:
        if path.is_file():
            source = f"{uuid.uuid4()}-attachment{path.suffix}"
            shutil.copyfile(path, results_dir / source)
            kind = "image/png" if path.suffix == ".png" else "application/json"
            attachments.append({"name": path.name, "source": source, "type": kind})
    test = _test(
        name=name,
        passed=passed,
        message=message,
        label=suite,
        attachments=attachments,
        at=int(time.time() * 1000),
    )
    test["labels"][0]["value"] = parent
    path = results_dir / f"{test['uuid']}-result.json"
    path.write_text(json.dumps(test))
    return path
