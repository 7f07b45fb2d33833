"""Requests per second per generator CPU core: Preflight's open-model runner next to plain
Locust FastHttpUser, on the same trivial endpoint, in the same run.

    uv run python bench/generator.py [--rounds 3] [--duration 8] [--check]

The endpoint is preflight.calibration's server (no service time) in a process of its own.
Plain Locust runs a closed loop (FastHttpUser, no wait, --users users) as fast as it can; the
open model runs at a fixed arrival rate near what plain Locust reached, with as many
connections (max_in_flight = --users). Each phase is one
Locust process; its CPU time comes from the kernel (wait4), its request count from its own
output; the CPU of an idle Locust process of the same length (start-up, stats loop) is
subtracted from both. The ratio is open-model requests per CPU second over plain Locust's
(aim >= 1.0: scheduling arrivals and recording HDR histograms cost no more than Locust's loop).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AIM = 1.0

PLAIN = """
from locust import FastHttpUser, constant, task


class Plain(FastHttpUser):
    wait_time = constant(0)

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


@dataclass(frozen=True)
class Phase:
    requests: int
    cpu_s: float
    wall_s: float

    def less(self, idle_cpu_s: float) -> "Phase":
        """The phase without the CPU a Locust process spends anyway (start-up, idle loop)."""
        return Phase(self.requests, max(self.cpu_s - idle_cpu_s, 1e-3), self.wall_s)

    @property
    def per_core(self) -> float:
        return self.requests / self.cpu_s if self.cpu_s else 0.0


def run_locust(argv: list[str], env: dict[str, str]) -> tuple[str, float, float]:
    began = time.monotonic()
    process = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert process.stdout is not None
    output = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 1, 3, 5):  # 5: the generator saturated, as expected here
        raise SystemExit(f"locust exited {process.returncode}: {' '.join(argv)}")
    return output, usage.ru_utime + usage.ru_stime, time.monotonic() - began


def plain_phase(files: Path, host: str, duration: int, users: int, env: dict[str, str]) -> Phase:
    output, cpu, wall = run_locust(
        [
            sys.executable, "-m", "locust", "-f", str(files / "plain.py"), "--headless",
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
        [
            sys.executable, "-m", "locust", "-f", str(files / "open.py"), "--headless",
            "-u", "1", "-r", "1", "--run-time", f"{duration}s", "--host", host,
            "--arrival-rate", f"{rate:g}", "--preflight-out", str(out),
            "--only-summary", "--loglevel", "ERROR",
        ],
        env,
    )  # fmt: skip
    document = json.loads((out / "results.json").read_text())
    return Phase(int(document["total"]["requests"]), cpu, wall)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--check", action="store_true", help="exit 1 below the aim")
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
            (files / "plain.py").write_text(PLAIN)
            (files / "open.py").write_text(OPEN.replace("USERS", str(args.users)))
            print(f"cores: {os.cpu_count()}  endpoint: {host}  phases: {args.duration} s")
            header = ("round", "plain rps/core", "open rps/core", "rate", "ratio")
            print("{:>5} {:>15} {:>14} {:>7} {:>6}".format(*header))
            idle = open_phase(files, host, args.duration, 0.01, env).cpu_s
            print(f"an idle Locust process of {args.duration} s uses {idle:.2f} CPU s (subtracted)")
            ratios = []
            for round_ in range(1, args.rounds + 1):
                plain = plain_phase(files, host, args.duration, args.users, env).less(idle)
                rate = max(plain.requests / args.duration * 0.8, 50.0)
                opened = open_phase(files, host, args.duration, rate, env).less(idle)
                ratio = opened.per_core / plain.per_core if plain.per_core else 0.0
                ratios.append(ratio)
                print(
                    f"{round_:>5} {plain.per_core:>15.0f} {opened.per_core:>14.0f}"
                    f" {rate:>7.0f} {ratio:>6.2f}"
                )
    finally:
        server.terminate()
        server.wait(10)
    median = statistics.median(ratios)
    print(
        f"open model / plain Locust, requests per generator CPU second: {median:.2f} (aim >= {AIM})"
    )
    return 1 if args.check and median < AIM else 0


if __name__ == "__main__":
    raise SystemExit(main())
