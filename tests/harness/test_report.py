"""The report chain on real files: pytest + allure-pytest -> Allure 3 HTML; JUnit -> summary."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from preflight.report import environment, render, summary

SAMPLE_TESTS = """
def test_adds_numbers():
    assert 1 + 1 == 2


def test_breaks_on_purpose():
    assert 1 + 1 == 3, "arithmetic is off"
"""

needs_allure = pytest.mark.skipif(
    not (render.project_root() / "node_modules" / "allure").is_dir(),
    reason="Allure 3 is not installed: run `npm ci`",
)


@dataclass(frozen=True)
class SampleRun:
    results: Path
    junit: Path


def run_pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Real pytest with allure-pytest in `project`, isolated from this repository's config."""
    env = {key: value for key, value in os.environ.items() if key != "PYTEST_ADDOPTS"}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return subprocess.run(
        [
            *(sys.executable, "-m", "pytest"),
            *("-p", "no:cacheprovider", "-p", "allure_pytest.plugin"),
            *args,
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def make_project(root: Path, test_file: str, source: str) -> Path:
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (root / "tests" / "api").mkdir(parents=True)
    (root / "tests" / "api" / test_file).write_text(source, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> SampleRun:
    """A real pytest run with allure-pytest over one passing and one failing test."""
    project = make_project(tmp_path_factory.mktemp("sample"), "test_sample.py", SAMPLE_TESTS)
    results, junit = project / "allure-results", project / "junit.xml"
    completed = run_pytest(
        project, "--alluredir", str(results), "--junitxml", str(junit), "tests/api"
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr
    environment.write_environment(
        results,
        environment.environment_properties(
            target_name="embedded",
            services={"mes": "http://127.0.0.1:18080"},
            run_id="sample-run",
            git_sha="0123abc",
            suites=["api"],
        ),
    )
    environment.write_categories(results)
    return SampleRun(results=results, junit=junit)


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    return tmp_path / "reports"


def render_sample(sample_run: SampleRun, reports: Path) -> render.RenderedReport:
    return render.render_html(
        sample_run.results,
        html_path=reports / render.REPORT_FILE,
        history_path=reports / render.HISTORY_FILE,
        report_name="Preflight: sample",
    )


@pytest.mark.slow
@needs_allure
def test_report_is_one_file_listing_every_test(sample_run: SampleRun, reports: Path) -> None:
    rendered = render_sample(sample_run, reports)

    assert rendered.html == reports / "allure-report.html"
    assert rendered.html.is_file()
    html = rendered.html.read_text(encoding="utf-8")
    statuses = {result["name"]: result["status"] for result in render.embedded_test_results(html)}
    assert statuses == {"test_adds_numbers": "passed", "test_breaks_on_purpose": "failed"}


@pytest.mark.slow
@needs_allure
def test_report_carries_no_tracking_code(sample_run: SampleRun, reports: Path) -> None:
    html = render_sample(sample_run, reports).html.read_text(encoding="utf-8")

    assert render.tracking_markers(html) == []
    assert "googletagmanager" not in html
    assert not re.search(r"<script[^>]+src=[\"']https?://", html)


@pytest.mark.slow
@needs_allure
def test_report_shows_environment_and_categories(sample_run: SampleRun, reports: Path) -> None:
    files = render.embedded_files(render_sample(sample_run, reports).html.read_text("utf-8"))

    shown = {
        row["name"]: row["values"] for row in json.loads(files["widgets/allure_environment.json"])
    }
    assert shown["target"] == ["embedded"]
    assert shown["service.mes"] == ["http://127.0.0.1:18080"]
    categories = json.loads(files["widgets/categories.json"])
    names = {node["name"] for node in categories["nodes"].values() if node["type"] == "category"}
    assert names == {"Product defects"}


@pytest.mark.slow
@needs_allure
def test_history_gains_one_entry_per_render(sample_run: SampleRun, reports: Path) -> None:
    first = render_sample(sample_run, reports)
    second = render_sample(sample_run, reports)

    assert (first.history_entries, second.history_entries) == (1, 2)
    assert render.count_history_entries(reports / "history" / "history.jsonl") == 2


@pytest.mark.slow
@needs_allure
@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_report_lists_tests_in_a_browser(sample_run: SampleRun, reports: Path) -> None:
    rendered = render_sample(sample_run, reports)

    completed = subprocess.run(
        [
            *("chromium", "--headless", "--no-sandbox", "--disable-gpu"),
            *("--disable-background-networking", "--disable-component-update", "--disable-sync"),
            *("--no-first-run", "--disable-quic", "--virtual-time-budget=10000", "--dump-dom"),
            rendered.html.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    visible = re.sub(r"<script\b[\s\S]*?</script>", "", completed.stdout)
    assert "test_adds_numbers" in visible
    assert "test_breaks_on_purpose" in visible


def test_strip_analytics_keeps_report_data() -> None:
    page = (
        "<html><head><script>window.allureReportOptions = {}</script></head><body>"
        '<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>'
        "<script>window.dataLayer = window.dataLayer || []; function gtag(){}</script>"
        '<script defer>Promise.allSettled([d("widgets/a.json","e30=")])</script>'
        "</body></html>"
    )

    stripped = render.strip_analytics(page)

    assert render.tracking_markers(stripped) == []
    assert render.embedded_files(stripped) == {"widgets/a.json": b"{}"}
    assert "allureReportOptions" in stripped


def test_summary_counts_a_real_junit_file(sample_run: SampleRun) -> None:
    results = summary.parse_junit(sample_run.junit)

    assert set(results.suites) == {"api"}
    api = results.suites["api"]
    assert (api.passed, api.failed, api.errors, api.skipped) == (1, 1, 0, 0)
    assert [failure.nodeid for failure in results.failures] == [
        "tests/api/test_sample.py::test_breaks_on_purpose"
    ]
    assert "arithmetic is off" in results.failures[0].message


def test_summary_names_a_module_that_fails_to_collect(tmp_path: Path) -> None:
    project = make_project(tmp_path, "test_broken.py", "import module_that_does_not_exist\n")
    run_pytest(project, "--junitxml", "junit.xml", "tests/api")

    results = summary.parse_junit(project / "junit.xml")

    assert results.suites["api"].errors == 1
    [failure] = results.failures
    assert (failure.nodeid, failure.kind) == ("tests/api/test_broken.py", "error")
    assert "module_that_does_not_exist" in failure.message


def test_summary_json_has_a_stable_schema(sample_run: SampleRun, tmp_path: Path) -> None:
    started = datetime(2025, 1, 1, tzinfo=UTC)
    built = summary.build_summary(
        verdict="functional_failure",
        exit_code=1,
        reason="tests failed or errored",
        run_id="sample-run",
        target="embedded",
        git_sha="0123abc",
        started_at=started,
        finished_at=started + timedelta(seconds=12.5),
        selected_suites=["api"],
        junit=summary.parse_junit(sample_run.junit),
        reports=summary.ReportPaths(allure_html="allure-report.html", junit="junit.xml"),
    )

    path = summary.write_summary(built, tmp_path / "summary.json")

    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["schema_version"] == 1
    assert {
        "verdict",
        "exit_code",
        "started_at",
        "finished_at",
        "duration_s",
        "target",
        "git_sha",
        "suites",
        "failures",
        "reports",
    } <= set(data)
    assert data["duration_s"] == 12.5
    assert data["totals"]["passed"] == 1
    assert data["reports"] == {
        "allure_html": "allure-report.html",
        "junit": "junit.xml",
        "history": None,
    }
    assert summary.read_summary(path) == built


def test_environment_properties_escape_urls(tmp_path: Path) -> None:
    path = environment.write_environment(
        tmp_path, {"service.mes": "http://127.0.0.1:8000", "note": "zwölf = 12"}
    )

    assert path.read_text(encoding="ascii").splitlines() == [
        r"service.mes=http\://127.0.0.1\:8000",
        r"note=zw\u00f6lf \= 12",
    ]


def test_categories_put_infrastructure_first(tmp_path: Path) -> None:
    written = json.loads(environment.write_categories(tmp_path).read_text(encoding="utf-8"))

    assert [category["name"] for category in written] == [
        "Infrastructure problems",
        "Product defects",
        "Test defects",
    ]
    infrastructure = re.compile(written[0]["messageRegex"])
    assert infrastructure.fullmatch("httpx.ConnectError: [Errno 111] Connection refused")
    assert not infrastructure.fullmatch("AssertionError: assert 404 == 201")
