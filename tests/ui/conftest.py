"""The operator screens in a real browser: Debian's Chromium, headless, one context per user.

Every context records a Playwright trace; when a test fails, a screenshot of each of its pages
and the trace are attached to Allure (video needs ffmpeg, which the machine lacks).
"""

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import allure
import pytest
from filelock import FileLock
from playwright.sync_api import Browser, BrowserContext

from fixtures.mes import MesFactory, Plant, ScreenUser
from preflight import chromium, stack
from preflight.pytest_plugin import service_url
from preflight.targets import Target
from tests.ui.pages.login_page import LoginPage
from tests.ui.pages.queue_page import QueuePage

SUITE = Path(__file__).parent
_FAILED = pytest.StashKey[bool]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:  # the hook sees every test of the session: mark only this suite's
        if item.path.is_relative_to(SUITE):
            item.add_marker(pytest.mark.ui)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        item.stash[_FAILED] = True
    return report


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return browser_type_launch_args | chromium.launch_args()


@pytest.fixture(scope="session")
def base_url(target: Target) -> str:
    """The MES: pages open by path (pytest-base-url's fixture, when that plugin is loaded)."""
    return service_url(target, "mes")


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any], base_url: str) -> dict[str, Any]:
    return browser_context_args | {"base_url": base_url, "locale": "en-GB"}


@pytest.fixture
def new_user_context(
    browser: Browser,
    browser_context_args: dict[str, Any],
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> Iterator[Callable[[], BrowserContext]]:
    """Opens browser contexts (one per user: cookies are per context), traced; on failure their
    pages' screenshots and traces go to Allure."""
    opened: list[BrowserContext] = []

    def open_context() -> BrowserContext:
        context = browser.new_context(**browser_context_args)
        context.set_default_timeout(15_000)
        context.tracing.start(snapshots=True, screenshots=False, sources=False)
        opened.append(context)
        return context

    yield open_context
    failed = request.node.stash.get(_FAILED, False)
    for number, context in enumerate(opened, start=1):
        if failed:
            for page_number, page in enumerate(context.pages, start=1):
                allure.attach(
                    page.screenshot(full_page=True),
                    name=f"screenshot, user {number} page {page_number} ({page.url})",
                    attachment_type=allure.attachment_type.PNG,
                )
            trace = tmp_path / f"trace-user-{number}.zip"
            context.tracing.stop(path=trace)
            allure.attach.file(trace, name=f"playwright trace, user {number}", extension="zip")
        else:
            context.tracing.stop()
        context.close()


@pytest.fixture
def context(new_user_context: Callable[[], BrowserContext]) -> BrowserContext:
    return new_user_context()


@pytest.fixture
def signed_in(
    new_user_context: Callable[[], BrowserContext],
) -> Callable[[ScreenUser], QueuePage]:
    """A browser of the user's own, signed in: the queue page it lands on."""

    def sign_in(user: ScreenUser) -> QueuePage:
        page = new_user_context().new_page()
        return LoginPage(page).open().sign_in_as(user)

    return sign_in


@pytest.fixture
def operator(mes_factory: MesFactory, plant: Plant) -> ScreenUser:
    """An operator at the plant's first work center (every factory order passes through it)."""
    return mes_factory.create_screen_user(plant.code, "operator", plant.work_centers[0])


@pytest.fixture
def planner(mes_factory: MesFactory, plant: Plant) -> ScreenUser:
    return mes_factory.create_screen_user(plant.code, "planner")


@pytest.fixture
def operator_queue(signed_in: Callable[[ScreenUser], QueuePage], operator: ScreenUser) -> QueuePage:
    return signed_in(operator)


# --- 100,000 seeded orders for the load-time budget ----------------------------------------------

PERF_SEED = 6
PERF_ORDERS = 100_000
PERF_PLANTS = 1
PERF_PLANT = "P1"
PERF_WORK_CENTER = "CNC-01"
BUDGETS = SUITE / "budgets.yaml"


@pytest.fixture(scope="session")
def seeded_plant(target: Target) -> str:
    """Plant P1 with 100,000 orders of the seed, loaded once per stack: the first worker seeds
    under a file lock, the others (and later runs on a kept stack) find it loaded."""
    from preflight import seed

    dsns = target.database("mes")
    if dsns is None:
        pytest.skip("the target gives no MES database DSN to seed")
    lock_dir = Path(target.stack_dir) if target.stack_dir else stack.project_root() / ".preflight"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(lock_dir / "ui-seed.lock"), contextlib.suppress(seed.AlreadySeeded):
        seed.seed_orders(dsns.primary, PERF_ORDERS, seed=PERF_SEED, plants=PERF_PLANTS)
    return PERF_PLANT


@pytest.fixture(scope="session")
def ui_performance_dir() -> Path:
    """Where perf tests write their figures (the gate sets it to <reports>/ui-performance)."""
    configured = os.environ.get("PREFLIGHT_UI_PERF_DIR")
    return Path(configured) if configured else stack.project_root() / "reports" / "ui-performance"
