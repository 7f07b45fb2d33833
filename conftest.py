import pytest

pytest_plugins = [
    "preflight.pytest_plugin",
    "fixtures.gateway",
    "fixtures.reporting",
    "fixtures.notification",
    "fixtures.scratch_db",
]


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """pytest-playwright for tests/ui: plain `pytest` loads it through its entry point, the
    Makefile and the gate (plugin autoloading off) through this."""
    if not pluginmanager.has_plugin("playwright"):
        pluginmanager.import_plugin("pytest_playwright.pytest_playwright")
