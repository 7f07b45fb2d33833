"""What the Allure report says about the run: environment properties and defect categories.

Both files go into the allure-results directory and are written once per run by whoever
owns the run (the gate, or the xdist controller when pytest runs alone), never by workers.
The categories are also handed to the Allure 3 renderer through its config (`CATEGORIES`),
since Allure 3 reads category rules from its config and Allure 2 from ``categories.json``.
"""

from __future__ import annotations

import json
import platform
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal

ENVIRONMENT_FILE = "environment.properties"
CATEGORIES_FILE = "categories.json"

Status = Literal["failed", "broken", "passed", "skipped", "unknown"]

# Java's Pattern.matches needs the whole message to match; JavaScript's RegExp.test searches.
# Wrapping the alternatives in [\s\S]* makes one pattern mean the same to both renderers.
_INFRASTRUCTURE_SIGNS = (
    "Connection refused",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "ConnectError",
    "ConnectTimeout",
    "ReadTimeout",
    "WriteTimeout",
    "PoolTimeout",
    "TimeoutException",
    "TimeoutError",
    "timed out",
    "TargetUnhealthy",
    "target unhealthy",
    "OperationalError",
    "redis.exceptions.ConnectionError",
)


@dataclass(frozen=True)
class Category:
    name: str
    matched_statuses: tuple[Status, ...]
    message_regex: str | None = None

    def as_allure(self) -> dict[str, object]:
        """The Allure 2 ``categories.json`` shape, which Allure 3's config also accepts."""
        rule: dict[str, object] = {
            "name": self.name,
            "matchedStatuses": list(self.matched_statuses),
        }
        if self.message_regex is not None:
            rule["messageRegex"] = self.message_regex
        return rule


CATEGORIES: tuple[Category, ...] = (
    Category(
        name="Infrastructure problems",
        matched_statuses=("broken", "failed"),
        message_regex=r"[\s\S]*(" + "|".join(_INFRASTRUCTURE_SIGNS) + r")[\s\S]*",
    ),
    Category(name="Product defects", matched_statuses=("failed",)),
    Category(name="Test defects", matched_statuses=("broken",)),
)


def environment_properties(
    *,
    target_name: str,
    services: Mapping[str, str],
    run_id: str,
    git_sha: str | None,
    suites: Sequence[str] = (),
) -> dict[str, str]:
    """The properties shown on the report's overview. Never credentials: URLs only."""
    properties = {
        "target": target_name,
        "run_id": run_id,
        "git_sha": git_sha or "unknown",
        "suites": ",".join(suites) if suites else "all",
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "pytest": _version("pytest"),
        "allure_pytest": _version("allure-pytest"),
        "preflight": _version("preflight"),
    }
    for service, url in sorted(services.items()):
        properties[f"service.{service}"] = url
    return properties


def write_environment(results_dir: Path, properties: Mapping[str, str]) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / ENVIRONMENT_FILE
    lines = [
        f"{_escape(key, is_key=True)}={_escape(value, is_key=False)}"
        for key, value in properties.items()
    ]
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path


def write_categories(results_dir: Path, categories: Sequence[Category] = CATEGORIES) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / CATEGORIES_FILE
    path.write_text(
        json.dumps([category.as_allure() for category in categories], indent=2) + "\n",
        encoding="utf-8",
    )
    return path


def git_sha(repo: Path) -> str | None:
    """HEAD of the repository at `repo`, or None outside a git checkout."""
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    sha = completed.stdout.strip()
    return sha if completed.returncode == 0 and sha else None


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _escape(text: str, *, is_key: bool) -> str:
    """Java .properties escaping, ASCII only (non-ASCII as \\uXXXX)."""
    out: list[str] = []
    for index, char in enumerate(text):
        if char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif char in "=:#!" or (char == " " and (is_key or index == 0)):
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) > 0x7E:
            encoded = char.encode("utf-16-be")
            for offset in range(0, len(encoded), 2):
                out.append(f"\\u{int.from_bytes(encoded[offset : offset + 2], 'big'):04x}")
        else:
            out.append(char)
    return "".join(out)
