from pathlib import Path

import pytest

SUITE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:  # the hook sees every test of the session: mark only this suite's
        if item.path.is_relative_to(SUITE):
            item.add_marker(pytest.mark.api)
