"""How tests share the machine across xdist workers, each case run on two workers in a scratch
directory:
- `make test` runs `--dist loadgroup`, and some tests rely on their xdist_group keeping them on
  one worker (one capacity baseline per run, the pacts' shared plant, one Prometheus). A pytest
  that pytest-xdist cannot tag with the group (pytest 9.2 with xdist 3.8) spreads them silently.
- Slow tests take the machine one at a time, and so do the module-scoped fixtures they bring up
  (a stack of their own, a baseline search): pytest sets those up before the test's own lock,
  so without the plugin's fixture-setup hook one would start a stack while another worker's load
  run measures. They hold the machine while they tear down too (a stack's shutdown checkpoint
  stalled a load run's commits for seconds).
- A `perf` test has the machine to itself: no other test runs meanwhile, slow or not.
The lock cases run under the plugin with locks of their own (PREFLIGHT_LOCK_DIR) and check that
the two intervals never overlap."""

import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

from preflight import stack

GROUPED = """
import os
import time

import pytest

pytestmark = pytest.mark.xdist_group("{group}")


@pytest.mark.parametrize("n", range(4))
def test_{group}(n: int) -> None:
    time.sleep(0.1)  # long enough for the other worker to ask for work
    with open("{log}", "a") as log:
        log.write(f"{group} {{os.environ['PYTEST_XDIST_WORKER']}}\\n")
"""


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

WITH_TEARDOWN = """
import time
from collections.abc import Iterator

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("teardown")]


@pytest.fixture(scope="module")
def own_stack() -> Iterator[None]:
    yield
    started = time.monotonic()
    time.sleep(1.5)
    with open("{log}", "a") as log:
        log.write(f"teardown {{started}} {{time.monotonic()}}\\n")


def test_uses_it(own_stack: None) -> None:
    time.sleep(1.5)
"""

# A quick test first, so the slow one asks for the machine while the other worker's slow test
# runs and gets it as soon as that test lets go: before the fixture tears down, but for the hook.
AFTER_A_QUICK_ONE = """
import time

import pytest

pytestmark = pytest.mark.xdist_group("later")


def test_quick() -> None:
    time.sleep(0.5)


@pytest.mark.slow
def test_slow() -> None:
    started = time.monotonic()
    time.sleep(0.5)
    with open("{log}", "a") as log:
        log.write(f"test {{started}} {{time.monotonic()}}\\n")
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


def on_two_workers(directory: Path, *args: str, env: Mapping[str, str]) -> None:
    """Run pytest on the modules in `directory` with two workers and `--dist loadgroup`."""
    completed = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-p", "xdist.plugin", "-p", "no:cacheprovider",
            "-n", "2", "--dist", "loadgroup", "-q", *args, str(directory),
        ],
        cwd=directory,
        env=os.environ | {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]


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
    root = str(stack.project_root())
    on_two_workers(
        tmp_path,
        *("-p", "preflight.pytest_plugin", "--target", str(profile), "--rootdir", str(tmp_path)),
        env={
            "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]),
            "PREFLIGHT_LOCK_DIR": str(tmp_path / "locks"),
        },
    )
    intervals = {}
    for line in log.read_text().splitlines():
        name, start, end = line.split()
        intervals[name] = (float(start), float(end))
    return intervals


def test_loadgroup_keeps_each_group_on_one_worker(tmp_path: Path) -> None:
    log = tmp_path / "workers.log"
    for group in ("alpha", "beta"):
        (tmp_path / f"test_{group}.py").write_text(GROUPED.format(group=group, log=log))
    on_two_workers(tmp_path, env={})

    workers: defaultdict[str, set[str]] = defaultdict(set)
    runs = log.read_text().split()
    for group, worker in zip(runs[::2], runs[1::2], strict=True):
        workers[group].add(worker)
    assert sorted(workers) == ["alpha", "beta"]
    assert len(runs) == 2 * 8
    assert all(len(ran_on) == 1 for ran_on in workers.values()), dict(workers)


def assert_apart(intervals: dict[str, tuple[float, float]], names: set[str]) -> None:
    assert set(intervals) == names
    first, second = sorted(intervals.values())
    assert first[1] <= second[0], f"overlapped: {intervals}"


def test_a_slow_tests_module_fixture_sets_up_only_with_the_machine(tmp_path: Path) -> None:
    intervals = intervals_on_two_workers(
        tmp_path, {"with_fixture": WITH_FIXTURE, "other": timed("test", "slow")}
    )
    assert_apart(intervals, {"fixture", "test"})


def test_a_slow_tests_module_fixture_tears_down_only_with_the_machine(tmp_path: Path) -> None:
    intervals = intervals_on_two_workers(
        tmp_path, {"with_teardown": WITH_TEARDOWN, "later": AFTER_A_QUICK_ONE}
    )
    assert_apart(intervals, {"teardown", "test"})


def test_a_perf_test_has_the_machine_to_itself(tmp_path: Path) -> None:
    intervals = intervals_on_two_workers(
        tmp_path, {"perf": timed("perf", "perf"), "quick": timed("quick")}
    )
    assert_apart(intervals, {"perf", "quick"})
