"""What each reliability test survived, as figures for the gate's summary.

A reliability test writes one `FaultRun` (JSON) into the results directory: the fault, the
writes the clients invoked and had acknowledged, the lost, duplicated and phantom ones the
checker found, and the recovery time. The gate points the tests at ``<reports>/reliability/``
(``PREFLIGHT_RELIABILITY_DIR``) and merges the files into summary.json under ``reliability``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

RESULTS_ENV = "PREFLIGHT_RELIABILITY_DIR"


class FaultRun(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    test: str
    fault: str
    survived: bool
    rate_per_s: float
    invoked: int
    acknowledged: int
    failed: int = 0
    unresolved: int = 0
    lost: int
    duplicated: int
    phantom: int = 0
    events_lost: int = 0
    events_duplicated: int = 0
    fault_s: float = 0.0
    recovery_s: float | None = None
    notes: str = ""


class ReliabilitySummary(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    faults: int
    faults_survived: int
    writes_acknowledged: int
    lost: int
    duplicated: int
    runs: list[FaultRun] = Field(default_factory=list)


def results_dir(default: Path) -> Path:
    return Path(os.environ.get(RESULTS_ENV) or default)


def write_run(directory: Path, run: FaultRun) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (re.sub(r"[^A-Za-z0-9_.-]+", "_", run.test)[-150:] + ".json")
    path.write_text(run.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return path


def collect(directory: Path) -> ReliabilitySummary | None:
    """Every run written into `directory` (None when no reliability test wrote one)."""
    if not directory.is_dir():
        return None
    runs = []
    for path in sorted(directory.glob("*.json")):
        try:
            runs.append(FaultRun.model_validate(json.loads(path.read_text(encoding="utf-8"))))
        except ValueError:
            continue
    if not runs:
        return None
    return ReliabilitySummary(
        faults=len(runs),
        faults_survived=sum(run.survived for run in runs),
        writes_acknowledged=sum(run.acknowledged for run in runs),
        lost=sum(run.lost + run.events_lost for run in runs),
        duplicated=sum(run.duplicated + run.events_duplicated for run in runs),
        runs=runs,
    )
