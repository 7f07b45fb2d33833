"""The gate's breaking-change step: every contracts/openapi/*.yaml of the working tree against the
same path on `main` (`preflight.contract_diff`), so that a change that breaks a client of the
released API fails the gate before any suite runs against it.

Outside a git checkout, or in one without a `main` branch, the step is skipped with the reason;
a spec that `main` does not have yet is new, hence additive.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from preflight.contract_diff import ContractError, diff_documents, parse_document

BASE_REF = "main"
SPECS = Path("contracts") / "openapi"

Status = Literal["pass", "fail", "skipped"]


@dataclass(frozen=True)
class SpecDiff:
    spec: str
    breaking: list[str] = field(default_factory=list)
    additive: int = 0


@dataclass(frozen=True)
class BreakingCheck:
    status: Status
    reason: str
    base_ref: str = BASE_REF
    specs: list[SpecDiff] = field(default_factory=list)


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=False, timeout=30
    )


def check_against_base(root: Path, base_ref: str = BASE_REF) -> BreakingCheck:
    """Compare each spec under `root`/contracts/openapi with `base_ref`'s version of it."""
    try:
        inside = _git(root, "rev-parse", "--is-inside-work-tree")
    except (OSError, subprocess.TimeoutExpired) as error:
        return BreakingCheck("skipped", f"git is not usable: {error}", base_ref)
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        return BreakingCheck("skipped", f"{root} is not a git checkout", base_ref)
    if _git(root, "rev-parse", "--verify", "--quiet", f"{base_ref}^{{commit}}").returncode != 0:
        return BreakingCheck("skipped", f"no {base_ref!r} branch to compare with", base_ref)
    specs = sorted((root / SPECS).glob("*.yaml"))
    if not specs:
        return BreakingCheck("skipped", f"no specs under {root / SPECS}", base_ref)
    diffs = []
    for path in specs:
        relative = path.relative_to(root).as_posix()
        old = _git(root, "show", f"{base_ref}:{relative}")
        if old.returncode != 0:
            diffs.append(SpecDiff(relative))  # new on this branch: nothing to break
            continue
        try:
            report = diff_documents(
                parse_document(old.stdout, f"{base_ref}:{relative}"),
                parse_document(path.read_text(encoding="utf-8"), relative),
            )
        except ContractError as error:
            diffs.append(SpecDiff(relative, breaking=[f"unreadable: {error}"]))
            continue
        diffs.append(
            SpecDiff(
                relative,
                breaking=[f"{c.kind}: {c.location} ({c.detail})" for c in report.breaking],
                additive=len(report.additive),
            )
        )
    broken = [diff for diff in diffs if diff.breaking]
    if broken:
        count = sum(len(diff.breaking) for diff in broken)
        names = ", ".join(diff.spec for diff in broken)
        return BreakingCheck(
            "fail", f"{count} breaking changes against {base_ref}: {names}", base_ref, diffs
        )
    return BreakingCheck("pass", f"no breaking change against {base_ref}", base_ref, diffs)
