"""Repeatability of the capacity search: N searches of a scenario on the embedded stack, each on a
stack of its own, and how far their answers lie apart.

    uv run python bench/capacity.py [--runs 3] [--scenario order_flow] [--check]

Each run is `preflight load capacity --scenario S` exactly as a user runs it (a fresh embedded
stack, started and stopped by the command), its capacity.json kept under --out. The table shows
each run's maximum sustainable rate, its band and the first breach; below it, the spread: each
run's distance from the median of the runs (aim: within 15 %) and max/min. A run that ends in
anything but a converged or budget-bounded search (no passing rate, a saturated generator)
counts as a failure of the bench, not as a number.

Exit 0 (a measurement); with --check, exit 1 when a run lies more than --agree from the median.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from rich.console import Console
from rich.table import Table

ROOT: Final = Path(__file__).resolve().parent.parent
AGREE: Final = 0.15


def search(scenario: str, out: Path, extra: list[str], console: Console) -> dict[str, Any]:
    """One capacity search through the CLI; its capacity.json."""
    command = [
        str(Path(sys.executable).with_name("preflight")), "load", "capacity",
        "--scenario", scenario, "--out", str(out), *extra,
    ]  # fmt: skip
    log = out / "capacity.log"
    out.mkdir(parents=True, exist_ok=True)
    with log.open("w") as sink:
        code = subprocess.run(
            command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, check=False
        ).returncode
    document_path = out / "capacity.json"
    if not document_path.exists():
        console.print(f"[red]no capacity.json (exit {code})[/]; the end of {log}:")
        console.print("".join(log.read_text().splitlines(keepends=True)[-20:]))
        raise typer.Exit(1)
    document: dict[str, Any] = json.loads(document_path.read_text())
    document["exit_code"] = code
    return document


def main(
    runs: Annotated[int, typer.Option(min=2, help="Searches to compare.")] = 3,
    scenario: Annotated[str, typer.Option(help="A bundled scenario.")] = "order_flow",
    max_duration: Annotated[str, typer.Option(help="Time budget of each search.")] = "10m",
    step_duration: Annotated[str, typer.Option(help="How long each step runs.")] = "20s",
    tolerance: Annotated[float, typer.Option(help="Band width each search stops at.")] = 0.1,
    agree: Annotated[float, typer.Option(help="Allowed distance from the median.")] = AGREE,
    out: Annotated[Path | None, typer.Option(help="Keep each run's results here.")] = None,
    check: Annotated[bool, typer.Option(help="Exit 1 when the runs disagree.")] = False,
) -> None:
    """Run the capacity search several times on the embedded stack and compare the answers."""
    console = Console(highlight=False)
    base = out or Path(tempfile.mkdtemp(prefix="preflight-bench-capacity-"))
    console.print(
        f"[bold]bench/capacity[/]: {runs} capacity searches of {scenario}, each on its own "
        f"embedded stack ({os.cpu_count()} CPU core(s) shared by the generator and the stack); "
        f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; results in {base}"
    )
    extra = [
        "--max-duration", max_duration, "--step-duration", step_duration,
        "--tolerance", str(tolerance),
    ]  # fmt: skip
    documents: list[dict[str, Any]] = []
    for number in range(1, runs + 1):
        began = time.monotonic()
        with console.status(f"search {number}/{runs}"):
            document = search(scenario, base / f"run{number}", extra, console)
        documents.append(document)
        console.print(
            f"search {number}/{runs}: {document['status']}, "
            f"{document.get('max_sustainable_rps')}/s in {time.monotonic() - began:.0f} s "
            f"(exit {document['exit_code']})"
        )
    found = [d["max_sustainable_rps"] for d in documents]
    if any(rate is None for rate in found):
        console.print("[red]a search found no sustainable rate: nothing to compare[/]")
        raise typer.Exit(1)
    rates = [float(rate) for rate in found]
    median = statistics.median(rates)
    table = Table(title=f"Capacity of {scenario}, {runs} searches")
    for column in ("run", "capacity /s", "band /s", "from median", "steps", "first breach"):
        table.add_column(column, justify="left" if column == "first breach" else "right")
    for number, (document, rate) in enumerate(zip(documents, rates, strict=True), start=1):
        band = document.get("band") or {}
        breach = document.get("first_breach") or {}
        table.add_row(
            str(number),
            f"{rate:g}",
            f"{band.get('low', '-'):g} - {band.get('high', '-'):g}" if band else "-",
            f"{(rate - median) / median:+.1%}",
            str(len(document.get("steps", []))),
            f"{breach.get('rate', '-')}/s: {', '.join(breach.get('breaches', [])[:2])}",
        )
    console.print(table)
    worst = max(abs(rate - median) / median for rate in rates)
    verdict = "[green]agree[/]" if worst <= agree else "[red]disagree[/]"
    console.print(
        f"median {median:g}/s; farthest run {worst:.1%} from it (aim <= {agree:.0%}) {verdict}; "
        f"max/min {max(rates) / min(rates):.3f}"
    )
    if check and worst > agree:
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(main)
