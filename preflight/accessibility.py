"""axe-core on a loaded page (through axe-playwright-python, which ships axe-core): the serious
and critical violations, each named by rule and by the elements it found."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Page

FAILING_IMPACTS = frozenset({"serious", "critical"})


def serious_violations(page: Page, screen: str) -> list[str]:
    """One line per serious or critical violation on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]

    response: dict[str, Any] = Axe().run(page).response
    found = []
    for violation in response.get("violations", []):
        if violation.get("impact") not in FAILING_IMPACTS:
            continue
        elements = ", ".join(
            " ".join(map(str, node.get("target", []))) for node in violation.get("nodes", [])
        )
        found.append(
            f"{screen}: {violation['id']} ({violation['impact']}): {violation.get('help', '')}"
            f" at {elements}"
        )
    return found
