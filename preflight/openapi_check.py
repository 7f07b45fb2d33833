"""Schemathesis against a live service: every operation of its OpenAPI 3.0/3.1 document, with
positive and negative data, stateful sequences through the document's links, response
conformance and no 5xx.

The contract suite (tests/contract/openapi) and `preflight contract --spec ... --base-url ...`
both run `check`, so a preprod service gets exactly the checks the embedded stack gets. Runs are
deterministic (a fixed seed, Hypothesis' example database off) and capped (examples per operation,
steps per stateful scenario) so that the whole suite stays within a few minutes; every finding
carries the seed and the curl lines that reproduce it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, NoReturn
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.table import Table

from preflight.targets import TargetError, load_profile
from preflight.verdict import ExitCode

DEFAULT_SEED = 20_261_205
DEFAULT_MAX_EXAMPLES = 4
DEFAULT_STATEFUL_STEPS = 5

KNOWN_PROBABILITY = 0.9

DISABLED_CHECKS: Mapping[str, str] = {
    "positive_data_acceptance": (
        "the services answer schema-valid requests that name something that does not exist "
        "(an unknown plant, SKU, work center or customer, an opaque pagination cursor they did "
        "not issue, an X-User only the gateway sets) with a 4xx problem; no OpenAPI schema can "
        "say which references exist, so this check would fail on correct behaviour. "
        "Malformed input is still covered: negative data must be rejected, and every response "
        "must conform to the document"
    ),
}
"""Schemathesis checks this module turns off, and why (README, Contracts)."""

NOT_GENERATED: Mapping[str, str] = {
    "allow-extra-parameters": (
        "undeclared headers with random names and values include HTTP framing headers "
        "(`Content-Length: <garbage>`), which the HTTP server (uvicorn) refuses with a plain-text "
        "400 before any application code runs: the protocol layer, not the API's contract"
    ),
}
"""Generation Schemathesis does by default that this module turns off, and why."""


class SpecError(Exception):
    """The OpenAPI document cannot be read, is not OpenAPI 3.0/3.1, or the base URL is bad."""


@dataclass(frozen=True)
class Budget:
    """How much to generate: the seed makes a run repeatable, the caps bound its time."""

    seed: int = DEFAULT_SEED
    max_examples: int = DEFAULT_MAX_EXAMPLES
    stateful_steps: int = DEFAULT_STATEFUL_STEPS
    known: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Values that exist on the target, by body field name (`plant`, `sku`, `work_center`):
    drawn most of the time for that field in every request body, so that a create succeeds
    and the stateful phase can follow its links (create -> get -> transition)."""


@dataclass(frozen=True)
class Finding:
    """One failed check on one operation, with the requests that reproduce it."""

    operation: str
    code: str
    title: str
    message: str
    phase: str
    curl: str

    def describe(self, seed: int) -> str:
        return (
            f"{self.operation}: {self.code} {self.title} ({self.phase} phase, seed {seed})\n"
            f"{self.message}\n"
            f"Reproduce with:\n{self.curl}"
        )


@dataclass
class Report:
    spec: str
    base_url: str
    seed: int
    operations: int = 0
    scenarios: int = 0
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    phases: dict[str, str] = field(default_factory=dict)
    links_followed: set[str] = field(default_factory=set)
    """The OpenAPI links the stateful phase followed with data from a real response."""
    elapsed_s: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.findings and not self.errors

    def by_code(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for finding in self.findings:
            key = f"{finding.code} {finding.title}"
            counts[key] = counts.get(key, 0) + 1
        return counts

    def text(self) -> str:
        """The whole report as plain text: the Allure attachment and the assertion message."""
        head = (
            f"{self.spec} against {self.base_url}: {self.operations} operations, "
            f"{self.scenarios} scenarios, {len(self.findings)} findings, "
            f"{len(self.errors)} errors in {self.elapsed_s:.1f} s (seed {self.seed})\n"
            f"phases: {', '.join(f'{k} {v}' for k, v in self.phases.items())}\n"
            f"links followed: {', '.join(sorted(self.links_followed)) or 'none'}\n"
            f"disabled checks: {', '.join(DISABLED_CHECKS)}; not generated: "
            f"{', '.join(NOT_GENERATED)}"
        )
        parts = [head]
        parts += [f"error: {error}" for error in self.errors]
        parts += [finding.describe(self.seed) for finding in self.findings]
        return "\n\n".join(parts)


Progress = Callable[[str], None]


def _config(base_url: str, headers: Mapping[str, str], budget: Budget) -> Any:
    from schemathesis.config import ConfigError, SchemathesisConfig

    try:
        return SchemathesisConfig.from_dict(
            {
                "seed": budget.seed,
                "base-url": base_url,
                "headers": dict(headers),
                "workers": 1,
                "request-timeout": 10,
                "generation": {
                    "mode": "all",
                    "max-examples": budget.max_examples,
                    "database": "none",
                    "allow-extra-parameters": False,
                },
                "phases": {
                    "stateful": {
                        "max-steps": budget.stateful_steps,
                        "generation": {"max-examples": budget.max_examples},
                    }
                },
                "checks": {name: {"enabled": False} for name in DISABLED_CHECKS},
                "dictionaries": {
                    name: {"values": list(values)} for name, values in budget.known.items()
                },
                "parameters": {
                    f"body.{name}": {"dictionary": name, "probability": KNOWN_PROBABILITY}
                    for name in budget.known
                },
            }
        )
    except (ConfigError, ValueError) as exc:
        raise SpecError(f"bad settings: {exc}") from None


def _check_base_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SpecError(f"--base-url is not an http(s) URL: {base_url!r}")
    return base_url.rstrip("/")


def load(spec: str, base_url: str, headers: Mapping[str, str], budget: Budget) -> Any:
    """The schema of `spec` (a path or an http(s) URL), set up to test `base_url`."""
    import schemathesis
    from schemathesis.core.errors import InvalidSchema, LoaderError

    config = _config(_check_base_url(base_url), headers, budget)
    try:
        if urlsplit(spec).scheme in ("http", "https"):
            schema = schemathesis.openapi.from_url(
                spec, config=config, headers=dict(headers), timeout=10
            )
        else:
            if not Path(spec).is_file():
                raise SpecError(f"no OpenAPI document at {spec}")
            schema = schemathesis.openapi.from_path(spec, config=config)
    except (LoaderError, InvalidSchema) as exc:
        message = getattr(exc, "message", str(exc))
        raise SpecError(f"cannot read {spec}: {str(message).splitlines()[0]}") from None
    version = str(schema.raw_schema.get("openapi", ""))
    if not (version.startswith("3.0") or version.startswith("3.1")):
        raise SpecError(f"{spec} is not an OpenAPI 3.0 or 3.1 document (openapi: {version!r})")
    return schema


def check(
    spec: str,
    base_url: str,
    headers: Mapping[str, str] | None = None,
    budget: Budget | None = None,
    progress: Progress | None = None,
    operations: tuple[str, ...] = (),
) -> Report:
    """Run every phase (examples, coverage, fuzzing, stateful) against `base_url`; only the
    `operations` named ("GET /orders") when some are given."""
    from schemathesis.core.result import Ok
    from schemathesis.engine import Status, events, from_schema

    budget = budget or Budget()
    began = time.monotonic()
    schema = load(spec, base_url, headers or {}, budget)
    if operations:
        schema = schema.include(name=list(operations))
    report = Report(spec=spec, base_url=base_url, seed=budget.seed)
    report.operations = sum(isinstance(op, Ok) for op in schema.get_all_operations())
    seen: set[tuple[str, str, str]] = set()
    for event in from_schema(schema).execute():
        if isinstance(event, events.PhaseStarted) and progress is not None:
            progress(f"{event.phase.name.value} phase")
        elif isinstance(event, events.PhaseFinished):
            report.phases[event.phase.name.value] = event.status.value
        elif isinstance(event, events.ScenarioFinished):
            report.scenarios += 1
            report.links_followed |= {
                case.transition.id
                for case in event.recorder.cases.values()
                if case.transition is not None and case.is_transition_applied
            }
            if progress is not None and event.label:
                progress(f"{event.phase.value}: {event.label}")
            for finding in _findings(event, Status.FAILURE):
                key = (finding.operation, finding.code, finding.message)
                if key not in seen:
                    seen.add(key)
                    report.findings.append(finding)
        elif isinstance(event, events.NonFatalError):
            report.errors.append(f"{event.label}: {event.info.title}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            report.errors.append(f"fatal: {event.exception}")
    report.elapsed_s = time.monotonic() - began
    return report


def _findings(event: Any, failure: Any) -> list[Finding]:
    found = []
    label = event.label or event.recorder.label
    for nodes in event.recorder.checks.values():
        for node in nodes:
            info = node.failure_info
            if node.status != failure or info is None:
                continue
            steps = [step.curl for step in info.steps] or [info.code_sample]
            found.append(
                Finding(
                    operation=info.failure.operation or label,
                    code=info.failure.code,
                    title=info.failure.title,
                    message=info.failure.message,
                    phase=event.phase.value,
                    curl="\n".join(steps),
                )
            )
    return found


# --- the command ---------------------------------------------------------------------------

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def parse_header(raw: str) -> tuple[str, str]:
    """A header as curl's -H takes it: `Name: value`."""
    name, colon, value = raw.partition(":")
    if not colon or not _HEADER_NAME.match(name.strip()):
        raise SpecError(f"bad header {raw!r}: expected 'Name: value'")
    return name.strip(), value.strip()


def _summary(report: Report) -> Table:
    table = Table(title=f"Contract failures ({len(report.findings)})", title_style="bold red")
    table.add_column("operation", overflow="fold")
    table.add_column("check")
    table.add_column("phase")
    table.add_column("reproduce", overflow="fold")
    for finding in report.findings:
        table.add_row(
            finding.operation,
            f"{finding.code} {finding.title}",
            finding.phase,
            finding.curl.splitlines()[-1],
        )
    for error in report.errors:
        table.add_row("-", "error", "-", error)
    return table


def contract_check_command(
    ctx: typer.Context,
    spec: Annotated[
        str | None, typer.Option("--spec", help="OpenAPI 3.0/3.1 document: a file or a URL.")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="Where the service under test answers.")
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option("--header", "-H", help="Header sent with every request, as curl takes it."),
    ] = None,
    target: Annotated[
        Path | None,
        typer.Option("--target", help="Profile TOML whose headers (auth) are sent too."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the generated data.")] = DEFAULT_SEED,
    max_examples: Annotated[
        int, typer.Option(min=1, help="Examples per operation and phase.")
    ] = DEFAULT_MAX_EXAMPLES,
) -> None:
    """Check a running service against its OpenAPI document (exit 1 on a finding), or compare
    two documents with `diff`."""
    if ctx.invoked_subcommand is not None:
        return
    err = Console(stderr=True, soft_wrap=True)

    def usage(message: str) -> NoReturn:
        err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
        raise typer.Exit(ExitCode.USAGE)

    if spec is None or base_url is None:
        usage("--spec and --base-url are required (or use `preflight contract diff OLD NEW`)")
    headers: dict[str, str] = {}
    try:
        if target is not None:
            headers.update(load_profile(target).headers)
        headers.update(parse_header(raw) for raw in header or [])
    except (SpecError, TargetError) as error:
        usage(str(error))
    console = Console()
    try:
        with console.status(f"checking {base_url} against {spec}") as status:
            report = check(
                spec,
                base_url,
                headers,
                Budget(seed=seed, max_examples=max_examples),
                progress=lambda step: status.update(f"{step}…"),
            )
    except SpecError as error:
        usage(str(error))
    console.print(
        f"{report.operations} operations, {report.scenarios} scenarios in "
        f"{report.elapsed_s:.1f} s (seed {report.seed}); links followed: "
        f"{len(report.links_followed)}",
        highlight=False,
    )
    if report.passed:
        console.print("[green]no contract failures[/]")
        raise typer.Exit(ExitCode.PASS)
    console.print(_summary(report))
    for finding in report.findings:
        console.print(finding.describe(report.seed) + "\n", markup=False, highlight=False)
    raise typer.Exit(ExitCode.FUNCTIONAL_FAILURE)
