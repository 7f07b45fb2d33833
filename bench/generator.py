"""Requests per second per generator CPU core: Preflight's open-model runner next to plain
Locust FastHttpUser, on the same trivial endpoint, in the same run.

    uv run python bench/generator.py [--rounds 3] [--duration 8] [--check]

The endpoint is preflight.calibration's server (no service time) in a process of its own.
Each round has three phases, one Locust process each:
1. plain Locust in a closed loop (FastHttpUser, no wait, --users users) as fast as it can: the
   most one core gives, with the generator at 100 % CPU;
2. the open model at a fixed arrival rate of 80 % of that, with as many connections
   (max_in_flight = --users);
3. plain Locust paced to the same rate (`constant_throughput(rate / users)` per user), the way
   Locust users hold a rate.
A generator at 100 % CPU is no longer a valid load test (its own queueing shows up as latency),
and a core's cost per request depends on how busy it is: below saturation the event loop wakes
for fewer ready sockets at a time. So the ratio compared with the aim is at the same offered
rate, open model (2) over paced plain Locust (3): what one request costs each generator for the
same load (aim >= 1.0: scheduling arrivals and recording HDR histograms cost no more than
Locust's pacing and stats). The open model over the saturated closed loop (2 over 1) is printed
next to it. Each phase's process is given one more locustfile (`window.py`, the same for all,
no user in it) that reads the process's CPU time from the kernel (getrusage) when the test
starts and when it stops: the CPU the test itself took, without the start-up (imports, which
without byte-code caches cost seconds) and the exit. The request count comes from the phase's
own output.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AIM = 1.0

PLAIN = """
from locust import FastHttpUser, constant, constant_throughput, task


class Plain(FastHttpUser):
    wait_time = WAIT_TIME

    @task
    def ping(self) -> None:
        self.client.get("/", name="GET /")
"""

OPEN = """
from locust import task

from preflight.load.open_model import OpenModelUser


class Open(OpenModelUser):
    concurrency = max_in_flight = USERS

    @task
    def ping(self) -> None:
        self.client.get("/", name="GET /")
"""


NO_NETWORK_TASK = """
    @task
    def ping(self) -> None:
        started = time.time()
        gevent.sleep(0)  # where the request would wait for its socket
        client = getattr(self, "client", None)  # the open model's: its own request event
        event = client.request_event if client else self.environment.events.request
        event.fire(
            request_type="GET", name="GET /", response_time=1.0, response_length=2,
            exception=None, context={}, response=None, start_time=started, url="/",
        )
"""

PLAIN_NO_NETWORK = (
    """
import time

import gevent
from locust import User, constant, constant_throughput, task


class Plain(User):
    wait_time = WAIT_TIME
"""
    + NO_NETWORK_TASK
)

OPEN_NO_NETWORK = (
    """
import time

import gevent
from locust import task

from preflight.load.open_model import OpenModelUser


class Open(OpenModelUser):
    concurrency = max_in_flight = USERS
"""
    + NO_NETWORK_TASK
)

WINDOW = """
import json
import os
import resource
import time

from locust import events

_started = {}


def _cpu_s():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@events.test_start.add_listener
def _start(**_):
    _started.update(cpu_s=_cpu_s(), wall_s=time.monotonic())


@events.test_stop.add_listener
def _stop(**_):
    cpu_s, wall_s = _cpu_s() - _started["cpu_s"], time.monotonic() - _started["wall_s"]
    with open(os.environ["BENCH_WINDOW_FILE"], "w") as out:
        json.dump({"cpu_s": cpu_s, "wall_s": wall_s}, out)
"""


@dataclass(frozen=True)
class Phase:
    requests: int
    cpu_s: float
    """The CPU the test took, start to stop (the kernel's count for the process)."""
    wall_s: float
    late_share: float = 0.0

    @property
    def per_core(self) -> float:
        return self.requests / self.cpu_s if self.cpu_s else 0.0

    @property
    def cpu_share(self) -> float:
        return self.cpu_s / self.wall_s if self.wall_s else 0.0


def run_locust(files: Path, argv: list[str], env: dict[str, str]) -> tuple[str, float, float]:
    """Run one phase; its output and the CPU and wall seconds from test start to test stop."""
    window_file = files / "window.json"
    window_file.unlink(missing_ok=True)
    argv[argv.index("-f") + 1] += f",{files / 'window.py'}"
    completed = subprocess.run(
        argv,
        cwd=ROOT,
        env=env | {"BENCH_WINDOW_FILE": str(window_file)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    if completed.returncode not in (0, 1, 3, 5):  # 5: the generator saturated, as expected here
        raise SystemExit(f"locust exited {completed.returncode}: {' '.join(argv)}")
    window = json.loads(window_file.read_text())
    return completed.stdout.decode(), float(window["cpu_s"]), float(window["wall_s"])


def plain_phase(
    files: Path, host: str, duration: int, users: int, env: dict[str, str], name: str = "plain.py"
) -> Phase:
    output, cpu, wall = run_locust(
        files,
        [
            sys.executable, "-m", "locust", "-f", str(files / name), "--headless",
            "-u", str(users), "-r", str(users), "--run-time", f"{duration}s", "--host", host,
            "--json", "--only-summary", "--loglevel", "ERROR",
        ],
        env,
    )  # fmt: skip
    stats = json.loads(output[output.index("[") :])
    return Phase(sum(int(s["num_requests"]) for s in stats), cpu, wall)


def open_phase(files: Path, host: str, duration: int, rate: float, env: dict[str, str]) -> Phase:
    out = files / "open-out"
    _, cpu, wall = run_locust(
        files,
        [
            sys.executable, "-m", "locust", "-f", str(files / "open.py"), "--headless",
            "-u", "1", "-r", "1", "--run-time", f"{duration}s", "--host", host,
            "--arrival-rate", f"{rate:g}", "--preflight-out", str(out),
            "--only-summary", "--loglevel", "ERROR",
        ],
        env,
    )  # fmt: skip
    document = json.loads((out / "results.json").read_text())
    arrivals = document["arrivals"]
    late = int(arrivals["late"]) + int(arrivals["dropped"])
    return Phase(int(document["total"]["requests"]), cpu, wall, late / max(arrivals["intended"], 1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--check", action="store_true", help="exit 1 below the aim")
    parser.add_argument(
        "--no-network",
        action="store_true",
        help="a diagnostic: tasks that only yield once and fire Locust's request event (no socket),"
        " to weigh the generators' own machinery (loop or schedule, stats, recording)",
    )
    args = parser.parse_args()
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "preflight.calibration"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        host = server.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as scratch:
            files = Path(scratch)
            plain_file, open_file = (
                (PLAIN_NO_NETWORK, OPEN_NO_NETWORK) if args.no_network else (PLAIN, OPEN)
            )
            (files / "plain.py").write_text(plain_file.replace("WAIT_TIME", "constant(0)"))
            (files / "open.py").write_text(open_file.replace("USERS", str(args.users)))
            (files / "window.py").write_text(WINDOW)
            target = "none (--no-network)" if args.no_network else host
            print(f"cores: {os.cpu_count()}  endpoint: {target}  phases: {args.duration} s")
            header = (
                "round",
                "closed",
                "cpu",
                "rate",
                "open",
                "cpu",
                "late",
                "paced",
                "cpu",
                "held",
            )
            print("{:>5} {:>8} {:>5} {:>6} {:>7} {:>5} {:>6} {:>7} {:>5} {:>6}".format(*header))
            ratios, saturated, closeds, opens, paceds = [], [], [], [], []
            for round_ in range(1, args.rounds + 1):
                closed = plain_phase(files, host, args.duration, args.users, env)
                rate = max(closed.requests / closed.wall_s * 0.8, 50.0)
                opened = open_phase(files, host, args.duration, rate, env)
                (files / "paced.py").write_text(
                    plain_file.replace("WAIT_TIME", f"constant_throughput({rate / args.users!r})")
                )
                paced = plain_phase(files, host, args.duration, args.users, env, "paced.py")
                ratios.append(opened.per_core / paced.per_core if paced.per_core else 0.0)
                saturated.append(opened.per_core / closed.per_core if closed.per_core else 0.0)
                closeds.append(closed.per_core)
                opens.append(opened.per_core)
                paceds.append(paced.per_core)
                print(
                    f"{round_:>5} {closed.per_core:>8.0f} {closed.cpu_share:>5.0%} {rate:>6.0f}"
                    f" {opened.per_core:>7.0f} {opened.cpu_share:>5.0%} {opened.late_share:>6.1%}"
                    f" {paced.per_core:>7.0f} {paced.cpu_share:>5.0%}"
                    f" {paced.requests / paced.wall_s / rate:>6.0%}"
                )
    finally:
        server.terminate()
        server.wait(10)
    print(
        "closed, open, paced: requests per generator CPU second; cpu: the phase's CPU share of"
        " its wall time; late: the open model's late or dropped arrivals; held: the paced"
        " phase's requests per second over the rate"
    )
    for what, values in (
        ("plain Locust, closed loop", closeds),
        ("open model", opens),
        ("plain Locust, paced", paceds),
    ):
        print(
            f"{what}: median {statistics.median(values):.0f} requests per CPU second"
            f" ({min(values):.0f}-{max(values):.0f})"
        )
    median = statistics.median(ratios)
    print(
        f"open model / plain Locust paced to the same rate: {median:.2f}"
        f" ({min(ratios):.2f}-{max(ratios):.2f}, aim >= {AIM})"
    )
    print(
        f"open model at 80 % / plain Locust's saturated closed loop: "
        f"{statistics.median(saturated):.2f} ({min(saturated):.2f}-{max(saturated):.2f})"
    )
    return 1 if args.check and median < AIM else 0


if __name__ == "__main__":
    raise SystemExit(main())
