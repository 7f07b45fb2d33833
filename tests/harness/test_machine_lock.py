"""Slow tests take the machine one at a time across xdist workers, and so do the module-scoped
fixtures they bring up (a stack of their own, a baseline search): pytest sets those up before
the test's own lock, so without the plugin's fixture-setup hook one would start a stack while
another worker's load run measures. And a `perf` test has the machine to itself: no other test
runs meanwhile, slow or not. Each case runs on two workers under the plugin, with locks of its
own (PREFLIGHT_LOCK_DIR), and checks that the two intervals never overlap."""

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

TIMED = """
import time

import pytest


@pytest.mark.xdist_group("{name}")
{marks}
def test_{name}() -> None:
    started = time.monotonic()
    time.sleep(1.5)
    with open("{log}", "a") as log:
        log.write(f"{name} {{started}} {{time.monotonic()}}\\n")
"""


def timed(name: str, *marks: str) -> str:
    """A module with one test that logs its interval under `name`, with these marks."""
    decorators = "\n".join(f"@pytest.mark.{mark}" for mark in marks)
    return TIMED.replace("{name}", name).replace("{marks}", decorators)


def intervals_on_two_workers(
    tmp_path: Path, modules: dict[str, str]
) -> dict[str, tuple[float, float]]:
    """Run the modules (templates of `{log}`) on two workers under the plugin; the interval each
    wrote to the log, by name."""
    log = tmp_path / "intervals.log"
    for name, template in modules.items():
        (tmp_path / f"test_{name}.py").write_text(template.format(log=log))
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
            "PREFLIGHT_LOCK_DIR": str(tmp_path / "locks"),
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
    return intervals


def assert_apart(intervals: dict[str, tuple[float, float]], names: set[str]) -> None:
    assert set(intervals) == names
    first, second = sorted(intervals.values())
    assert first[1] <= second[0], f"overlapped: {intervals}"


def test_a_slow_tests_module_fixture_sets_up_only_with_the_machine(tmp_path: Path) -> None:
    intervals = intervals_on_two_workers(
        tmp_path, {"with_fixture": WITH_FIXTURE, "other": timed("test", "slow")}
    )
    assert_apart(intervals, {"fixture", "test"})


def test_a_perf_test_has_the_machine_to_itself(tmp_path: Path) -> None:
    intervals = intervals_on_two_workers(
        tmp_path, {"perf": timed("perf", "perf"), "quick": timed("quick")}
    )
    assert_apart(intervals, {"perf", "quick"})
