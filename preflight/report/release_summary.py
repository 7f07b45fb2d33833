"""The release manager's page: one answer per question, on one page, as reports/summary.md and as
the "Release summary" test of the Allure report (suite "release", an HTML attachment with the
charts inline).

    verdict            the gate's exit code and reason
    tests              passed/failed per suite, the first failures
    capacity           the highest rate within every SLO, its band, against the baseline
    SLOs               the objectives at the highest rate that held (or of the smoke run)
    slowest endpoints  by p95, corrected for coordinated omission
    charts             throughput and latency against rate, the USL fit

The page is built once as sections (paragraphs and tables) and rendered twice, so the Markdown
and the HTML cannot disagree.
"""

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from preflight.load import capacity_report
from preflight.load.allure_results import write_test
from preflight.load.capacity_report import CAPACITY_CHARTS
from preflight.report.summary import JunitResults

SUMMARY_MD = "summary.md"
SMOKE_CHARTS = ("throughput.png", "latency.png")
SLOWEST = 8
QUANTILES = ("p50", "p95", "p99")


@dataclass
class Section:
    title: str
    lines: list[str] = field(default_factory=list)
    tables: list[tuple[list[str], list[list[str]]]] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class LoadPart:
    mode: str
    document: dict[str, Any]
    out: Path


def sections(
    *,
    verdict: str,
    exit_code: int,
    reason: str,
    facts: dict[str, str],
    junit: JunitResults | None,
    load: LoadPart | None,
) -> list[Section]:
    head = Section(f"Release summary: {verdict} (exit {exit_code})", [reason])
    head.lines.append(", ".join(f"{k} {v}" for k, v in facts.items() if v))
    found = [head, _tests(junit)]
    if load is not None and load.mode == "capacity":
        found.append(_capacity(load.document))
    found.extend(_slos_and_endpoints(load))
    if load is not None:
        names = CAPACITY_CHARTS if load.mode == "capacity" else SMOKE_CHARTS
        charts = [load.out / name for name in names if (load.out / name).is_file()]
        if charts:
            found.append(Section("Charts", images=charts))
    return found


def _tests(junit: JunitResults | None) -> Section:
    section = Section("Tests")
    if junit is None:
        section.lines.append("no test results")
        return section
    totals = junit.totals
    section.lines.append(
        f"{totals.passed} passed, {totals.failed} failed, {totals.errors} errors, "
        f"{totals.skipped} skipped"
    )
    rows = [
        [name, str(c.passed), str(c.failed), str(c.errors), str(c.skipped)]
        for name, c in sorted(junit.suites.items())
    ]
    section.tables.append((["suite", "passed", "failed", "errors", "skipped"], rows))
    if junit.failures:
        section.tables.append(
            (
                ["failed test", "message"],
                [[f.nodeid, f.message[:160]] for f in junit.failures[:10]],
            )
        )
    return section


def _capacity(document: dict[str, Any]) -> Section:
    section = Section("Capacity", [capacity_report.answer(document)])
    breach = document.get("first_breach")
    if breach:
        section.lines.append(
            f"First SLO to break: {', '.join(breach['breaches'][:3])} at {breach['rate']:g}/s."
        )
    if document.get("bottleneck"):
        section.lines.append(f"Likely bottleneck: {document['bottleneck']['text']}.")
    section.lines.append(capacity_report.usl_text(document["usl"]))
    compared = document.get("baseline")
    if compared:
        section.lines.append(f"Against the baseline: **{compared['outcome']}**.")
        section.tables.append(
            (
                ["what", "baseline", "now", "outcome", "note"],
                [
                    [r["what"], r["baseline"], r["current"], r["outcome"], r["note"]]
                    for r in compared["rows"]
                ],
            )
        )
    else:
        section.lines.append("No baseline to compare with (a gate run that passes records one).")
    section.tables.append(
        (
            ["rate/s", "achieved/s", "p95 ms", "p99 ms", "errors", "verdict", "server side"],
            [
                [
                    f"{s['rate']:g}",
                    f"{s.get('achieved_rps', 0):.1f}",
                    str(s.get("p95_ms")),
                    str(s.get("p99_ms")),
                    f"{s.get('error_rate', 0):.1%}",
                    s["verdict"],
                    capacity_report.signals_text(s.get("signals") or {}, limit=4),
                ]
                for s in document["steps"]
            ],
        )
    )
    return section


def _slos_and_endpoints(load: LoadPart | None) -> list[Section]:
    if load is None:
        return [Section("Load", ["no load step ran"])]
    document = load.document
    if load.mode == "capacity":
        rows = document.get("slo") or document.get("slo_at_breach") or []
        endpoints = document.get("endpoints") or {}
        where = f"at {document['band']['low']:g}/s" if document["band"]["low"] else ""
    else:
        rows = (document.get("slo") or {}).get("rows", [])
        endpoints = {
            name: {
                "requests": d["requests"],
                **{q: d["corrected"][q] for q in ("p50", "p95", "p99")},
            }
            for name, d in document["endpoints"].items()
        }
        where = f"at {document.get('target_rate') or 0:g}/s"
    slos = Section(f"SLOs {where}".strip())
    slos.tables.append(
        (
            ["group", "objective", "threshold", "actual", "scope", "verdict"],
            [
                [
                    r["group"],
                    r["objective"],
                    f"{r['threshold']:g}",
                    "-" if r["actual"] is None else f"{r['actual']:.4g}",
                    r["scope"],
                    "ok" if r["passed"] else "BREACH",
                ]
                for r in rows
            ],
        )
    )
    ranked = sorted(endpoints.items(), key=lambda item: -(item[1].get("p95") or 0))[:SLOWEST]
    slowest = Section(f"Slowest endpoints {where} (ms, corrected)".strip())
    slowest.tables.append(
        (
            ["endpoint", "requests", "p50", "p95", "p99"],
            [
                [
                    name,
                    str(d.get("requests")),
                    str(d.get("p50")),
                    str(d.get("p95")),
                    str(d.get("p99")),
                ]
                for name, d in ranked
            ],
        )
    )
    return [slos, slowest]


def markdown(found: list[Section], relative_to: Path) -> str:
    out: list[str] = []
    for index, section in enumerate(found):
        out.append(("# " if index == 0 else "## ") + section.title)
        out.append("")
        for line in section.lines:
            out += [line, ""]
        for headers, rows in section.tables:
            out.append("| " + " | ".join(headers) + " |")
            out.append("|" + "---|" * len(headers))
            out += [
                "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows
            ]
            out.append("")
        for image in section.images:
            out += [f"![{image.stem}]({_relative(image, relative_to)})", ""]
    return "\n".join(out)


def html_page(found: list[Section]) -> str:
    body: list[str] = []
    for index, section in enumerate(found):
        tag = "h1" if index == 0 else "h2"
        body.append(f"<{tag}>{html.escape(section.title)}</{tag}>")
        body += [f"<p>{html.escape(line).replace('**', '')}</p>" for line in section.lines]
        for headers, rows in section.tables:
            head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
            cells = "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                for row in rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
        for image in section.images:
            data = base64.b64encode(image.read_bytes()).decode("ascii")
            body.append(f'<p><img alt="{image.stem}" src="data:image/png;base64,{data}"></p>')
    style = (
        "body{font-family:sans-serif;margin:1.5em;max-width:70em}"
        "table{border-collapse:collapse;margin:.5em 0}"
        "td,th{border:1px solid #ccc;padding:.2em .5em;font-size:90%;text-align:left}"
        "img{max-width:100%}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Release summary</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>"
    )


def write(
    found: list[Section], reports: Path, allure_results: Path | None, *, passed: bool
) -> Path:
    """reports/summary.md, and the Allure test when there is a results directory to write."""
    path = reports / SUMMARY_MD
    path.write_text(markdown(found, reports))
    if allure_results is not None:
        write_test(
            allure_results,
            name="Release summary",
            suite="release",
            parent="release",
            passed=passed,
            message=found[0].lines[0] if found[0].lines else found[0].title,
            files=[image for section in found for image in section.images],
            html=html_page(found),
        )
    return path


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)
