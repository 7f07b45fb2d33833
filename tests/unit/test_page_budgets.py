"""Budgets of page load times: reading the file, and which figures are over."""

from pathlib import Path

import pytest

from preflight.page_timings import (
    BudgetError,
    PageTimings,
    budget_for,
    load_budgets,
    over_budget,
    read_recorded,
    record,
)

BUNDLED = Path(__file__).parents[1] / "ui" / "budgets.yaml"


def _timings(lcp: float | None, ttfb: float = 50.0) -> PageTimings:
    return PageTimings("queue", "/screens/queue", ttfb, 120.0, lcp, orders=100_000)


def test_the_bundled_budget_holds_lcp_to_one_second() -> None:
    budgets = load_budgets(BUNDLED)

    assert budget_for(budgets, "queue") == {"lcp_ms": 1000.0}
    assert budget_for(budgets, "a page it does not list") == {"lcp_ms": 1000.0}


def test_only_figures_above_their_ceiling_fail() -> None:
    budget = {"lcp_ms": 1000.0, "ttfb_ms": 200.0}

    assert over_budget(_timings(lcp=1000.0, ttfb=200.0), budget) == []
    assert over_budget(_timings(lcp=1000.1), budget) == ["queue: lcp_ms 1000 ms > budget 1000 ms"]


def test_a_figure_without_a_ceiling_never_fails_and_a_missing_lcp_does() -> None:
    assert over_budget(_timings(lcp=99_999.0), {}) == []
    assert over_budget(_timings(lcp=None), {"lcp_ms": 1000.0}) == [
        "queue: no lcp_ms measured (budget 1000 ms)"
    ]


def test_an_unknown_figure_in_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_text("queue:\n  fcp_ms: 500\n")

    with pytest.raises(BudgetError, match="unknown figure 'fcp_ms'"):
        load_budgets(path)


def test_recorded_figures_are_read_back_for_the_summary(tmp_path: Path) -> None:
    written = record(_timings(lcp=2500.0), {"lcp_ms": 1000.0}, tmp_path)

    assert read_recorded(tmp_path) == [written]
    assert written["figures"] == {"ttfb_ms": 50.0, "dom_content_loaded_ms": 120.0, "lcp_ms": 2500.0}
    assert written["over_budget"] == ["queue: lcp_ms 2500 ms > budget 1000 ms"]
