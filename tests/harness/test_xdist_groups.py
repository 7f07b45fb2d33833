"""`make test` runs `-n auto --dist loadgroup`, and some tests rely on their xdist_group keeping
them on one worker (one capacity baseline per run, the pacts' shared plant, one Prometheus).
A pytest that pytest-xdist cannot tag with the group (pytest 9.2 with xdist 3.8) spreads them
silently: this runs the installed pair on two groups and checks that each stays on one worker."""

import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

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


def test_loadgroup_keeps_each_group_on_one_worker(tmp_path: Path) -> None:
    log = tmp_path / "workers.log"
    for group in ("alpha", "beta"):
        (tmp_path / f"test_{group}.py").write_text(GROUPED.format(group=group, log=log))
    completed = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-p", "xdist.plugin", "-p", "no:cacheprovider",
            "-n", "2", "--dist", "loadgroup", "-q", str(tmp_path),
        ],
        cwd=tmp_path,
        env=os.environ | {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip

    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    workers: defaultdict[str, set[str]] = defaultdict(set)
    runs = log.read_text().split()
    for group, worker in zip(runs[::2], runs[1::2], strict=True):
        workers[group].add(worker)
    assert sorted(workers) == ["alpha", "beta"]
    assert len(runs) == 2 * 8
    assert all(len(ran_on) == 1 for ran_on in workers.values()), dict(workers)
