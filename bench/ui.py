"""Load times of the operator screens with 100,000 orders next to an empty database.

    .venv/bin/python bench/ui.py [--orders 100000] [--rounds 5]

Starts an MES-only embedded stack in a scratch directory, measures the queue, a queue search
and an order page in headless Chromium (TTFB, DOMContentLoaded, LCP: preflight/page_timings,
the same figures as the perf tests) for a plant with one order, then seeds `--orders` into plant
P1 and measures the same pages there. Prints medians of `--rounds` loads per page, the ratio
seeded/empty and the budget of tests/ui/budgets.yaml. A measurement, not a test: exits 0.
"""

import os
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from faker import Faker
from playwright.sync_api import Page, sync_playwright
from rich.console import Console
from rich.table import Table

from fixtures.mes import MesFactory, ScreenUser
from preflight import chromium, seed, stack
from preflight.clients.mes import MesClient
from preflight.page_timings import FIGURES, PageTimings, budget_for, load_budgets, measure

BUDGETS = Path(__file__).resolve().parents[1] / "tests" / "ui" / "budgets.yaml"
SEED = 6
STARTUP_S = 240.0  # a shared, busy machine starts the stack slowly


def sign_in(page: Page, user: ScreenUser) -> None:
    page.goto("/screens/login")
    page.get_by_label("Login", exact=True).fill(user.login)
    page.get_by_label("Password", exact=True).fill(user.password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Order queue").wait_for()


def pages(page: Page) -> dict[str, str]:
    """The queue, a search for its first order, and that order's page."""
    page.goto("/screens/queue?status=all")
    first = page.get_by_role("table").get_by_role("row").get_by_role("link").first
    order_ref = first.inner_text()
    return {
        "queue": "/screens/queue?status=all",
        "queue-search": f"/screens/queue?ref={order_ref}&status=all",
        "order-detail": first.get_attribute("href") or "/screens/queue",
    }


def medians(page: Page, urls: dict[str, str], rounds: int) -> dict[str, dict[str, float]]:
    found: dict[str, dict[str, float]] = {}
    for name, url in urls.items():
        runs: list[PageTimings] = [measure(page, url, name) for _ in range(rounds)]
        found[name] = {
            figure: statistics.median(float(getattr(run, figure) or 0.0) for run in runs)
            for figure in FIGURES
        }
    return found


def main(
    orders: Annotated[int, typer.Option(min=1, help="Orders to seed into plant P1.")] = 100_000,
    rounds: Annotated[int, typer.Option(min=1, help="Loads per page (median).")] = 5,
) -> None:
    console = Console()
    console.print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (shared)")
    budgets = load_budgets(BUDGETS)
    scratch = Path(tempfile.mkdtemp(prefix="preflight-bench-ui-"))
    scratch.chmod(0o755)
    try:
        with (
            stack.running(
                state_dir=scratch / "stack", services=["mes"], tracing=False, timeout=STARTUP_S
            ) as info,
            MesClient(info.services["mes"], run_id="benchui") as client,
            sync_playwright() as playwright,
        ):
            fake = Faker()
            fake.seed_instance(SEED)
            factory = MesFactory(client, fake, "benchui")
            browser = playwright.chromium.launch(**chromium.launch_args())
            results: dict[str, dict[str, dict[str, float]]] = {}

            plant = factory.create_plant()
            factory.create_order(plant, status="in_progress")
            user = factory.create_screen_user(plant.code, "operator", plant.work_centers[0])
            context = browser.new_context(base_url=info.services["mes"])
            page = context.new_page()
            sign_in(page, user)
            results["empty"] = medians(page, pages(page), rounds)
            context.close()

            console.print(f"seeding {orders:,} orders into plant P1 ...")
            seed.seed_orders(info.database_dsn("mes"), orders, seed=SEED, plants=1)
            user = factory.create_screen_user("P1", "operator", "CNC-01")
            context = browser.new_context(base_url=info.services["mes"])
            page = context.new_page()
            sign_in(page, user)
            results["seeded"] = medians(page, pages(page), rounds)
            context.close()
            browser.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    table = Table(title=f"operator screens, medians of {rounds} loads (ms)")
    table.add_column("page")
    table.add_column("figure")
    table.add_column("1 order", justify="right")
    table.add_column(f"{orders:,} orders", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("budget", justify="right")
    for name, empty in results["empty"].items():
        budget = budget_for(budgets, name)
        for figure in FIGURES:
            base, loaded = empty[figure], results["seeded"][name][figure]
            ratio = f"{loaded / base:.2f}" if base > 0 else "-"
            ceiling = f"{budget[figure]:.0f}" if figure in budget else "-"
            table.add_row(name, figure, f"{base:.0f}", f"{loaded:.0f}", ratio, ceiling)
    console.print(table)


if __name__ == "__main__":
    typer.run(main)
