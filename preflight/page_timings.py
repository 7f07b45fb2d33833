"""Load times of a web page as a browser sees them, and the budget they must keep.

`measure` loads a page in Playwright and reads the browser's own clocks: time to first byte and
DOMContentLoaded from Navigation Timing, Largest Contentful Paint from a PerformanceObserver
(buffered, so it sees the paint that already happened). Figures are milliseconds from the start
of the navigation. Budgets come from a YAML file (tests/ui/budgets.yaml): per page, a ceiling per
figure; a page is over budget only when a figure exceeds its ceiling.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from playwright.sync_api import Page

FIGURES = ("ttfb_ms", "dom_content_loaded_ms", "lcp_ms")
DEFAULT_BUDGET = {"lcp_ms": 1000.0}

_READ_TIMINGS = """
() => new Promise((resolve) => {
  const nav = performance.getEntriesByType('navigation')[0];
  let lcp = null;
  let timer = null;
  const finish = () => {
    observer.disconnect();
    resolve({
      ttfb_ms: nav.responseStart - nav.startTime,
      dom_content_loaded_ms: nav.domContentLoadedEventEnd - nav.startTime,
      lcp_ms: lcp,
    });
  };
  // LCP entries come after the paint is presented; a larger paint may follow within frames
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) lcp = Math.max(lcp ?? 0, entry.startTime);
    clearTimeout(timer);
    timer = setTimeout(finish, SETTLE_MS);
  });
  observer.observe({type: 'largest-contentful-paint', buffered: true});
  timer = setTimeout(finish, GIVE_UP_MS);
})
""".replace("SETTLE_MS", "150").replace("GIVE_UP_MS", "5000")


class BudgetError(ValueError):
    """The budget file is missing, unreadable or names an unknown figure."""


@dataclass(frozen=True)
class PageTimings:
    page: str
    url: str
    ttfb_ms: float
    dom_content_loaded_ms: float
    lcp_ms: float | None
    orders: int | None = None

    def figures(self) -> dict[str, float | None]:
        """Rounded figures; lcp_ms is None when the page painted nothing in 5 s."""
        return {
            name: None if getattr(self, name) is None else round(float(getattr(self, name)), 1)
            for name in FIGURES
        }


def measure(page: Page, url: str, name: str, orders: int | None = None) -> PageTimings:
    """Load `url` in `page` (waiting for the load event) and read its timings."""
    page.goto(url, wait_until="load")
    raw: dict[str, float | None] = page.evaluate(_READ_TIMINGS)
    return PageTimings(
        page=name,
        url=url,
        ttfb_ms=float(raw["ttfb_ms"] or 0.0),
        dom_content_loaded_ms=float(raw["dom_content_loaded_ms"] or 0.0),
        lcp_ms=raw["lcp_ms"],
        orders=orders,
    )


def load_budgets(path: Path) -> dict[str, dict[str, float]]:
    """{page: {figure: ceiling_ms}}; a page the file does not list gets `default`."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise BudgetError(f"cannot read budgets {path}: {exc}") from None
    if not isinstance(document, dict):
        raise BudgetError(f"{path}: expected a mapping of pages to budgets")
    budgets: dict[str, dict[str, float]] = {}
    for page, ceilings in document.items():
        if not isinstance(ceilings, dict):
            raise BudgetError(f"{path}: budget of {page!r} must map figures to milliseconds")
        unknown = set(ceilings) - set(FIGURES)
        if unknown:
            raise BudgetError(
                f"{path}: unknown figure {sorted(unknown)[0]!r} (known: {', '.join(FIGURES)})"
            )
        budgets[str(page)] = {name: float(value) for name, value in ceilings.items()}
    return budgets


def budget_for(budgets: Mapping[str, Mapping[str, float]], page: str) -> dict[str, float]:
    return dict(budgets.get(page, budgets.get("default", DEFAULT_BUDGET)))


def over_budget(timings: PageTimings, budget: Mapping[str, float]) -> list[str]:
    """One line per figure above its ceiling; empty when the page keeps its budget."""
    figures = timings.figures()
    over = []
    for name, ceiling in budget.items():
        value = figures[name]
        if value is None:
            over.append(f"{timings.page}: no {name} measured (budget {ceiling:.0f} ms)")
        elif value > ceiling:
            over.append(f"{timings.page}: {name} {value:.0f} ms > budget {ceiling:.0f} ms")
    return over


def record(timings: PageTimings, budget: Mapping[str, float], directory: Path) -> dict[str, Any]:
    """Write the page's figures and budget as JSON into `directory` (the gate puts every such
    file into reports/summary.json under "ui_performance"); returns what it wrote."""
    entry = asdict(timings) | {
        "figures": timings.figures(),
        "budget": dict(budget),
        "over_budget": over_budget(timings, budget),
    }
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{timings.page}.json").write_text(json.dumps(entry, indent=2) + "\n")
    return entry


def read_recorded(directory: Path) -> list[dict[str, Any]]:
    """Every page's figures `record` wrote into `directory`, by page name."""
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob("*.json")):
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(entry, dict):
            found.append(entry)
    return found
