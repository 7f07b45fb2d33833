"""Slow tests take the machine one at a time across xdist workers, and so do the module-scoped
fixtures they bring up (a stack of their own, a baseline search): pytest sets those up before
the test's own lock, so without the plugin's fixture-setup hook one would start a stack while
another worker's load run measures. Run on two workers under the plugin, with a lock of the
test's own: the fixture's set-up and the other slow test never overlap."""

import os
import subprocess
import sys
from pathlib import Path

from preflight import stack

WITH_FIXTURE = """
import time

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def own_stack() -> None:
    started = time.monotonic()
    time.sleep(1.5)
    with open("{log}", "a") as log:
        log.write(f"fixture {{started}} {{time.monotonic()}}\\n")


@pytest.mark.xdist_group("fixture")
def test_uses_it(own_stack: None) -> None:
    pass
"""

OTHER = """
import time

import pytest

pytestmark = pytest.mark.slow


@pytest.mark.xdist_group("other")
def test_measures() -> None:
    started = time.monotonic()
    time.sleep(1.5)
    with open("{log}", "a") as log:
        log.write(f"test {{started}} {{time.monotonic()}}\\n")
"""


def test_a_slow_tests_module_fixture_sets_up_only_with_the_machine(tmp_path: Path) -> None:
    log = tmp_path / "intervals.log"
    (tmp_path / "test_with_fixture.py").write_text(WITH_FIXTURE.format(log=log))
    (tmp_path / "test_other.py").write_text(OTHER.format(log=log))
    profile = tmp_path / "target.toml"
    profile.write_text('name = "nowhere"\n[services]\nmes = "http://127.0.0.1:9"\n')
    root = stack.project_root()
    completed = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-p", "xdist.plugin", "-p", "preflight.pytest_plugin",
            "-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup", "-q",
            "--target", str(profile), "--rootdir", str(tmp_path), str(tmp_path),
        ],
        cwd=tmp_path,
        env=os.environ
        | {
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
            "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
            "PREFLIGHT_MACHINE_LOCK": str(tmp_path / "machine.lock"),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip

    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    intervals = {}
    for line in log.read_text().splitlines():
        name, start, end = line.split()
        intervals[name] = (float(start), float(end))
    assert set(intervals) == {"fixture", "test"}
    first, second = sorted(intervals.values())
    assert first[1] <= second[0], f"overlapped: {intervals}"
