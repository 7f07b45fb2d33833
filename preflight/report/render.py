"""allure-results -> one self-contained HTML file, with history kept between runs.

The renderer is Allure 3 (npm package ``allure``, pinned in package.json, installed into
``node_modules`` by ``npm ci``). Each render writes a throw-away ``allurerc.json`` (the Awesome
report in single-file mode, the run's categories, ``historyPath``) and runs
``node node_modules/allure/cli.js generate``. Allure 3 appends one line per render to the
JSONL history file, which is what gives the report its trends and new/fixed/regressed marks.

The Awesome template always embeds a Google Analytics tag, whatever ALLURE_NO_ANALYTICS says
(only the Allure 2 style plugin honours it), so every tracking script is stripped from the
HTML before it is written, and the render fails if any tracking marker survives.

Layout (``reports`` is the gate's ``--reports`` directory):
    reports/allure-report.html       the report, opens from file:// with no network
    reports/history/history.jsonl    Allure history, one JSON line per render
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preflight.report.environment import CATEGORIES, Category

ALLURE_VERSION = "3.18.0"  # keep equal to package.json
REPORT_FILE = "allure-report.html"
HISTORY_FILE = Path("history") / "history.jsonl"
DEFAULT_HISTORY_LIMIT = 50

_ANALYTICS_HOSTS = (
    "googletagmanager.com",
    "google-analytics.com",
    "analytics.google.com",
    "doubleclick.net",
    "plausible.io",
    "segment.com",
    "segment.io",
    "mixpanel.com",
    "hotjar.com",
    "posthog.com",
)
# Markers with punctuation, so base64 payloads in the page can never match them by chance.
_TRACKING_MARKERS = (*_ANALYTICS_HOSTS, "gtag(", "window.dataLayer", "dataLayer.push(")
_SCRIPT = re.compile(r"<script\b([^>]*)>([\s\S]*?)</script>\s*", re.IGNORECASE)
_LINK_OR_IFRAME = re.compile(r"<(?:link|iframe)\b[^>]*>(?:\s*</iframe>)?\s*", re.IGNORECASE)
_NOSCRIPT = re.compile(r"<noscript\b[^>]*>[\s\S]*?</noscript>\s*", re.IGNORECASE)
_DATA_SCRIPT_SRC = re.compile(r"""src\s*=\s*["']data:text/javascript;base64,([^"']+)["']""")
_REPORT_FILE_ENTRY = re.compile(r'd\(("(?:[^"\\]|\\.)*"),\s*"([A-Za-z0-9+/=]*)"\)')


class RenderError(RuntimeError):
    """The report could not be rendered; the message says what to do."""


@dataclass(frozen=True)
class RenderedReport:
    html: Path
    history: Path
    history_entries: int


def project_root() -> Path:
    """The checkout holding package.json and node_modules."""
    return Path(__file__).resolve().parents[2]


def allure_cli(root: Path | None = None) -> list[str]:
    """The command that runs the pinned Allure 3 CLI; RenderError when it is not installed."""
    root = root or project_root()
    node = shutil.which("node")
    if node is None:
        raise RenderError("node is not on PATH: install Node.js 20+ to render the Allure report")
    package = root / "node_modules" / "allure" / "package.json"
    if not package.is_file():
        raise RenderError(f"Allure is not installed in {root / 'node_modules'}: run `npm ci`")
    installed = json.loads(package.read_text(encoding="utf-8")).get("version")
    if installed != ALLURE_VERSION:
        raise RenderError(
            f"node_modules has allure {installed}, expected {ALLURE_VERSION}: run `npm ci`"
        )
    return [node, str(package.parent / "cli.js")]


def render_html(
    results_dir: Path,
    *,
    html_path: Path,
    history_path: Path,
    report_name: str = "Preflight",
    categories: tuple[Category, ...] = CATEGORIES,
    history_limit: int = DEFAULT_HISTORY_LIMIT,
    root: Path | None = None,
    timeout_s: float = 600.0,
) -> RenderedReport:
    """Render `results_dir` into the single file `html_path`, appending to `history_path`."""
    command = allure_cli(root)
    results_dir.mkdir(parents=True, exist_ok=True)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    history_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="preflight-allure-") as scratch:
        output = Path(scratch) / "report"
        config = Path(scratch) / "allurerc.json"
        config.write_text(
            json.dumps(
                {
                    "name": report_name,
                    "output": str(output),
                    "historyPath": str(history_path.resolve()),
                    "historyLimit": history_limit,
                    "categories": [category.as_allure() for category in categories],
                    "plugins": {
                        "awesome": {
                            "options": {
                                "singleFile": True,
                                "reportName": report_name,
                                "reportLanguage": "en",
                            }
                        }
                    },
                },
                indent=2,
            ),
            encoding="utf-8",
        )
        try:
            completed = subprocess.run(
                [*command, "generate", "--config", str(config), str(results_dir.resolve())],
                cwd=scratch,
                env={**os.environ, "ALLURE_NO_ANALYTICS": "true", "NO_UPDATE_NOTIFIER": "1"},
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise RenderError(f"allure generate did not finish in {timeout_s:.0f} s") from exc
        index = output / "index.html"
        if completed.returncode != 0 or not index.is_file():
            tail = (completed.stderr or completed.stdout).strip()[-2000:]
            raise RenderError(f"allure generate exited {completed.returncode}: {tail}")
        html = strip_analytics(index.read_text(encoding="utf-8"))
    left = tracking_markers(html)
    if left:
        raise RenderError(f"tracking code survived stripping: {', '.join(left)}")
    partial = html_path.with_name(html_path.name + ".partial")
    partial.write_text(html, encoding="utf-8")
    partial.replace(html_path)
    return RenderedReport(
        html=html_path, history=history_path, history_entries=count_history_entries(history_path)
    )


def strip_analytics(html: str) -> str:
    """Remove analytics and tag-manager scripts, links, iframes and noscript blocks."""

    def drop_script(match: re.Match[str]) -> str:
        attributes, body = match.group(1), match.group(2)
        if "data:" not in attributes and _mentions_tracking(attributes):
            return ""
        if _mentions_tracking(body):
            return ""
        return match.group(0)

    def drop_tag(match: re.Match[str]) -> str:
        return "" if _mentions_tracking(match.group(0)) else match.group(0)

    html = _SCRIPT.sub(drop_script, html)
    html = _NOSCRIPT.sub(drop_tag, html)
    return _LINK_OR_IFRAME.sub(drop_tag, html)


def tracking_markers(html: str) -> list[str]:
    """Tracking markers found in the page, including inside inlined base64 scripts."""
    texts = [html]
    for match in _DATA_SCRIPT_SRC.finditer(html):
        try:
            texts.append(base64.b64decode(match.group(1)).decode("utf-8", errors="replace"))
        except (binascii.Error, ValueError):
            continue
    return sorted({marker for text in texts for marker in _TRACKING_MARKERS if marker in text})


def embedded_files(html: str) -> dict[str, bytes]:
    """The report data files a single-file Allure 3 report carries (name -> content)."""
    files: dict[str, bytes] = {}
    for match in _REPORT_FILE_ENTRY.finditer(html):
        name = json.loads(match.group(1))
        content = base64.b64decode(match.group(2))
        if content[:2] == b"\x1f\x8b":
            content = gzip.decompress(content)
        files[str(name)] = content
    return files


def embedded_test_results(html: str) -> list[dict[str, Any]]:
    """The test results inside a single-file report: dicts with name, fullName, status..."""
    return [
        json.loads(content)
        for name, content in sorted(embedded_files(html).items())
        if name.startswith("data/test-results/") and name.endswith(".json")
    ]


def count_history_entries(history_path: Path) -> int:
    if not history_path.is_file():
        return 0
    with history_path.open(encoding="utf-8") as lines:
        return sum(1 for line in lines if line.strip())


def _mentions_tracking(text: str) -> bool:
    return any(marker in text for marker in _TRACKING_MARKERS)
