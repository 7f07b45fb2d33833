"""The budget check itself, on a page whose slowness is known by construction: a server that
answers after 3 s can only be over a 1 s budget."""

from typing import Any

from playwright.sync_api import Browser

from preflight.calibration import CalibratedServer
from preflight.page_timings import measure, over_budget

DELAY_S = 3.0


def test_a_page_far_over_its_budget_fails_the_check(
    browser: Browser, browser_context_args: dict[str, Any]
) -> None:
    context = browser.new_context(**browser_context_args)
    with CalibratedServer(concurrency=1, service_time_s=DELAY_S) as server:
        timings = measure(context.new_page(), server.url, "delayed-page")
        context.close()  # its keep-alive connection ends before the server stops

    problems = over_budget(timings, {"lcp_ms": 1000, "ttfb_ms": 1000})

    assert timings.ttfb_ms >= DELAY_S * 1000
    assert timings.lcp_ms is not None
    assert timings.lcp_ms >= DELAY_S * 1000
    assert [line.split(" ")[1] for line in problems] == ["lcp_ms", "ttfb_ms"], problems
