"""Load times of the queue and order pages with 100,000 orders in the plant, against the budget
in budgets.yaml: TTFB, DOMContentLoaded and LCP, attached to Allure and written for
reports/summary.json. A page fails only over its budget."""

import json
from collections.abc import Callable
from pathlib import Path

import allure
import pytest
from playwright.sync_api import expect

from fixtures.mes import MesFactory, ScreenUser
from preflight.page_timings import budget_for, load_budgets, measure, over_budget, record
from tests.ui.conftest import BUDGETS, PERF_ORDERS, PERF_WORK_CENTER
from tests.ui.pages.queue_page import QueuePage

pytestmark = [pytest.mark.perf, pytest.mark.slow]


def test_queue_and_order_pages_keep_their_budget_with_100k_orders(
    seeded_plant: str,
    mes_factory: MesFactory,
    signed_in: Callable[[ScreenUser], QueuePage],
    ui_performance_dir: Path,
) -> None:
    operator = mes_factory.create_screen_user(seeded_plant, "operator", PERF_WORK_CENTER)
    queue = signed_in(operator)
    expect(queue.order_rows).to_have_count(25)
    screenshot = queue.page.screenshot(full_page=True)
    allure.attach(
        screenshot,
        name=f"queue of plant {seeded_plant} with {PERF_ORDERS:,} seeded orders",
        attachment_type=allure.attachment_type.PNG,
    )
    ui_performance_dir.mkdir(parents=True, exist_ok=True)
    (ui_performance_dir / "queue.png").write_bytes(screenshot)
    first_ref = queue.order_rows.first.get_by_role("link").inner_text()
    detail_url = queue.order_rows.first.get_by_role("link").get_attribute("href")
    assert detail_url is not None
    budgets = load_budgets(BUDGETS)

    failures = []
    for name, url in (
        ("queue", "/screens/queue"),
        ("queue-search", f"/screens/queue?ref={first_ref}&status=all"),
        ("order-detail", detail_url),
    ):
        timings = measure(queue.page, url, name, orders=PERF_ORDERS)
        budget = budget_for(budgets, name)
        entry = record(timings, budget, ui_performance_dir)
        allure.attach(
            json.dumps(entry, indent=2),
            name=f"load time: {name} ({PERF_ORDERS:,} orders)",
            attachment_type=allure.attachment_type.JSON,
        )
        failures += over_budget(timings, budget)

    assert not failures, "over budget:\n" + "\n".join(failures)
