"""How long `preflight seed --orders 100000` takes on a fresh embedded stack (budget: 30 s).

    .venv/bin/python bench/seed.py [--orders 100000]

A measurement, not a test: it prints the time, rows per second and the budget, and exits 0.
"""

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from preflight import seed, stack

BUDGET_S = 30.0


def main(
    orders: Annotated[int, typer.Option(min=1, help="Orders to load.")] = 100_000,
) -> None:
    console = Console()
    console.print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (shared)")
    scratch = Path(tempfile.mkdtemp(prefix="preflight-bench-seed-"))
    scratch.chmod(0o755)
    try:
        with stack.running(state_dir=scratch / "stack", services=["mes"], tracing=False) as info:
            began = time.monotonic()
            report = seed.seed_orders(info.database_dsn("mes"), orders, seed=42)
            elapsed = time.monotonic() - began
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    verdict = "within" if elapsed <= BUDGET_S * orders / 100_000 else "over"
    console.print(
        f"seeded {report.orders:,} orders ({report.rows:,} rows) in {elapsed:.1f} s, "
        f"{report.rows_per_second:,.0f} rows/s: {verdict} the budget of "
        f"{BUDGET_S * orders / 100_000:.0f} s"
    )


if __name__ == "__main__":
    typer.run(main)
