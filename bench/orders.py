"""Requests per second of the MES order API next to a database-free FastAPI baseline.

Both apps are served by their own uvicorn process with the same flags; one load generator (a
keep-alive HTTP/1.1 client on uvloop, in its own process, fixed concurrency, closed loop) drives
them in alternating rounds of warm-up + fixed-duration phases, and the table reports the median
RPS of each side and their ratio against the aim.

    uv run python bench/orders.py [--rounds 3] [--duration 5] [--concurrency 32] [--check]

The MES runs on the embedded stack (PostgreSQL primary + replica, Redis) that the bench starts
in a scratch state directory and stops at the end. Exit 0 always (it is a measurement), or with
--check exit 1 when a ratio is below its aim.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import shutil
import signal
import statistics
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Final

import httpx
import orjson
import psutil
import typer
from fastapi import FastAPI
from rich.console import Console
from rich.table import Table
from starlette.responses import Response

from bench.loadgen import SEQUENCE, Phase, PhaseResult, request, run_phase
from preflight import processes, stack
from preflight.ports import LOOPBACK, free_port
from preflight.waits import wait_until
from reference_services.catalog import ServiceSpec
from reference_services.mes.entrypoints.schemas import OrderCreate

PLANT: Final = "BENCH"
SKU: Final = "BRKT-1042-AX"
WORK_CENTERS: Final = ("CNC-01", "QA-01")
AIMS: Final = {"POST /orders": 0.4, "GET /orders/{id}": 0.6}
ORDERS_TO_READ: Final = 200
BASELINE: Final = ServiceSpec(
    name="baseline", app="bench.orders:baseline_app", database=None, env_prefix="BASELINE_"
)
ROOT: Final = Path(__file__).resolve().parent.parent


# --- the baseline: the same API shape with a dict instead of a database ---------------------


def baseline_app() -> FastAPI:
    """POST /orders and GET /orders/{id} with the MES's body model and JSON, kept in memory."""
    app = FastAPI(title="orders baseline")
    orders: dict[str, bytes] = {}
    refs: set[tuple[str, str]] = set()

    @app.get("/health/live")
    async def live() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.post("/orders", status_code=201)
    async def create_order(body: OrderCreate) -> Response:
        if (body.plant, body.order_ref) in refs:
            return Response(b'{"status":409}', 409, media_type="application/problem+json")
        refs.add((body.plant, body.order_ref))
        now = datetime.now(UTC).isoformat()
        order_id = str(uuid.uuid4())
        raw = orjson.dumps(
            {
                "id": order_id,
                "order_ref": body.order_ref,
                "customer_ref": body.customer_ref,
                "sku": body.sku,
                "quantity": body.quantity,
                "due_date": body.due_date.isoformat(),
                "plant": body.plant,
                "priority": body.priority,
                "status": "planned",
                "version": 1,
                "created_at": now,
                "updated_at": now,
                "operations": [
                    {
                        "seq": seq,
                        "work_center": op.work_center,
                        "description": op.description,
                        "planned_minutes": op.planned_minutes,
                        "status": "pending",
                    }
                    for seq, op in enumerate(body.operations or (), start=1)
                ],
            }
        )
        orders[order_id] = raw
        return Response(
            raw, 201, media_type="application/json", headers={"Location": f"/orders/{order_id}"}
        )

    @app.get("/orders/{order_id}")
    async def get_order(order_id: str) -> Response:
        raw = orders.get(order_id)
        if raw is None:
            return Response(b'{"status":404}', 404, media_type="application/problem+json")
        return Response(raw, media_type="application/json")

    return app


# --- requests (sent by bench/loadgen.py in a process of its own) ------------------------------


def order_body(order_ref: str | bytes) -> bytes:
    ref = order_ref.decode() if isinstance(order_ref, bytes) else order_ref
    return orjson.dumps(
        {
            "order_ref": ref,
            "customer_ref": "CUST-00042",
            "sku": SKU,
            "quantity": 25,
            "due_date": "2030-01-31",
            "plant": PLANT,
            "priority": 3,
            "operations": [
                {
                    "work_center": WORK_CENTERS[0],
                    "description": "Mill pocket",
                    "planned_minutes": 45,
                },
                {"work_center": WORK_CENTERS[1], "description": "Inspect", "planned_minutes": 10},
            ],
        }
    )


def phase_requests(method: str, tag: str, order_ids: tuple[str, ...]) -> tuple[bytes, ...]:
    if method == "POST":
        body = order_body(tag.encode() + b"-" + SEQUENCE)
        return (request("POST", "/orders", {"Content-Type": "application/json"}, body),)
    return tuple(request("GET", f"/orders/{order_id}") for order_id in order_ids)


# --- orchestration -----------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    url: str
    pid: int
    order_ids: tuple[str, ...] = ()
    rss_start: int = 0
    backing: tuple[int, ...] = ()

    def rss(self) -> int:
        return int(psutil.Process(self.pid).memory_info().rss)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


@dataclass
class Measurement:
    rps: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    backing_ms: list[float] = field(default_factory=list)
    generator_cpu: list[float] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)
    errors: dict[int, int] = field(default_factory=dict)

    def add(
        self, result: PhaseResult, server_cpu_seconds: float, backing_cpu_seconds: float
    ) -> None:
        requests = max(result.ok, 1)
        self.rps.append(result.ok / result.seconds)
        self.server_cpu.append(server_cpu_seconds / result.seconds)
        self.server_ms.append(server_cpu_seconds * 1000 / requests)
        self.backing_ms.append(backing_cpu_seconds * 1000 / requests)
        self.generator_cpu.append(result.generator_cpu_seconds / result.seconds)
        if result.latencies_ms:
            self.p50_ms.append(statistics.median(result.latencies_ms))
        for status, count in result.statuses.items():
            if not 200 <= status < 300:
                self.errors[status] = self.errors.get(status, 0) + count

    @property
    def median_rps(self) -> float:
        return statistics.median(self.rps) if self.rps else 0.0


def _listening_pid(port: int) -> int:
    for connection in psutil.net_connections(kind="tcp"):
        if (
            connection.status == psutil.CONN_LISTEN
            and connection.laddr
            and connection.laddr.port == port
            and connection.pid is not None
        ):
            return connection.pid
    raise RuntimeError(f"no process listens on port {port}")


def _cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def _tree_cpu(roots: tuple[int, ...]) -> dict[int, float]:
    """CPU seconds so far of each process in the trees under `roots`."""
    found: dict[int, float] = {}
    for root in roots:
        try:
            process = psutil.Process(root)
            tree = [process, *process.children(recursive=True)]
        except psutil.Error:
            continue
        for member in tree:
            try:
                times = member.cpu_times()
            except psutil.Error:
                continue
            found[member.pid] = float(times.user + times.system)
    return found


def _cpu_since(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def backing_processes(state_dir: Path) -> tuple[int, ...]:
    """PostgreSQL postmasters and Redis of the stack in `state_dir` (their CPU counts for MES)."""
    marker = str(state_dir)
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or ())
        if marker in cmdline and ("postgres" in cmdline or "redis" in cmdline):
            found.append(process.pid)
    return tuple(found)


@contextmanager
def baseline_server(logs: Path) -> Iterator[Server]:
    port = free_port()
    argv = stack.uvicorn_command(BASELINE, port)
    env = os.environ | {"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    child = processes.spawn(
        argv, log=logs / "baseline.log", env=env, cwd=ROOT, death_signal=signal.SIGTERM
    )
    url = f"http://{LOOPBACK}:{port}"
    try:
        wait_until(
            lambda: httpx.get(f"{url}/health/live", timeout=1).status_code == 200,
            timeout=30,
            description="the baseline server",
            ignored_exceptions=(httpx.HTTPError,),
        )
        yield Server("baseline", url, child.pid)
    finally:
        processes.end_processes([(psutil.Process(child.pid), (signal.SIGTERM,))], grace=5)


def _created(response: httpx.Response) -> None:
    if response.status_code not in (201, 409):
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {response.text[:300]}"
        )


def prepare(server: Server, *, needs_master_data: bool) -> None:
    """Work centers and the product the orders name (MES only), and orders for the GET phases."""
    with httpx.Client(base_url=server.url, timeout=10) as client:
        if needs_master_data:
            for code in WORK_CENTERS:
                _created(
                    client.post(
                        "/work-centers",
                        json={"plant": PLANT, "code": code, "name": f"Bench {code}"},
                    )
                )
            routing = orjson.loads(order_body("routing"))["operations"]
            _created(
                client.post(
                    "/products",
                    json={"plant": PLANT, "sku": SKU, "name": "Bench bracket", "routing": routing},
                )
            )
        ids = []
        for n in range(ORDERS_TO_READ):
            response = client.post(
                "/orders",
                content=order_body(f"READ-{uuid.uuid4().hex[:8]}-{n}"),
                headers={"Content-Type": "application/json"},
            )
            if response.status_code != 201:
                raise RuntimeError(f"POST /orders: {response.status_code} {response.text[:300]}")
            ids.append(str(response.json()["id"]))
        server.order_ids = tuple(ids)


def measure(
    servers: list[Server],
    *,
    rounds: int,
    warmup: float,
    duration: float,
    concurrency: int,
    console: Console,
) -> dict[tuple[str, str], Measurement]:
    results: dict[tuple[str, str], Measurement] = {}
    for server in servers:
        server.rss_start = server.rss()
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        for round_number in range(rounds):
            order = servers if round_number % 2 == 0 else servers[::-1]
            for endpoint, method in (("POST /orders", "POST"), ("GET /orders/{id}", "GET")):
                for server in order:
                    tag = f"B{uuid.uuid4().hex[:8]}"
                    phase = Phase(
                        port=server.port,
                        requests=phase_requests(method, tag + "w", server.order_ids),
                        duration=warmup,
                        concurrency=concurrency,
                    )
                    pool.submit(run_phase, phase).result()
                    measured = Phase(
                        port=server.port,
                        requests=phase_requests(method, tag, server.order_ids),
                        duration=duration,
                        concurrency=concurrency,
                    )
                    before, backing_before = _cpu_seconds(server.pid), _tree_cpu(server.backing)
                    result = pool.submit(run_phase, measured).result()
                    server_cpu = _cpu_seconds(server.pid) - before
                    backing_cpu = _cpu_since(backing_before, _tree_cpu(server.backing))
                    results.setdefault((endpoint, server.name), Measurement()).add(
                        result, server_cpu, backing_cpu
                    )
                    console.print(
                        f"  round {round_number + 1}/{rounds} {endpoint:<17} {server.name:<8} "
                        f"{result.ok / result.seconds:8.0f} rps  server CPU "
                        f"{server_cpu / result.seconds:4.0%}  PostgreSQL+Redis CPU "
                        f"{backing_cpu / result.seconds:4.0%}  generator CPU "
                        f"{result.generator_cpu_seconds / result.seconds:4.0%}",
                    )
    for server in servers:
        console.print(
            f"  {server.name}: server memory (RSS) {server.rss_start / 2**20:.0f} MB before the "
            f"rounds, {server.rss() / 2**20:.0f} MB after"
        )
    return results


def paired_ratio(baseline: Measurement, mes: Measurement) -> float:
    """Median over rounds of MES RPS / baseline RPS, each pair measured back to back."""
    ratios = [m / b for b, m in zip(baseline.rps, mes.rps, strict=True) if b > 0]
    return statistics.median(ratios) if ratios else 0.0


def report(results: dict[tuple[str, str], Measurement], console: Console) -> dict[str, float]:
    table = Table(title="MES vs database-free baseline (medians over rounds)")
    for column in ("endpoint", "baseline RPS", "MES RPS", "ratio", "aim", ""):
        table.add_column(column, justify="left" if column == "endpoint" else "right")
    ratios: dict[str, float] = {}
    for endpoint, aim in AIMS.items():
        base, mes = results[(endpoint, "baseline")], results[(endpoint, "mes")]
        ratio = ratios[endpoint] = paired_ratio(base, mes)
        table.add_row(
            endpoint,
            f"{base.median_rps:,.0f}",
            f"{mes.median_rps:,.0f}",
            f"{ratio:.2f}",
            f">= {aim:.1f}",
            "[green]ok[/]" if ratio >= aim else "[red]below aim[/]",
        )
    console.print(table)
    console.print(
        "ratio: median of the per-round ratios (each round measures both sides back to back)."
    )
    details = Table(title="where the CPU goes (medians; ms = CPU milliseconds per request)")
    columns = (
        "endpoint",
        "server",
        "RPS per round",
        "p50 ms",
        "server CPU",
        "server ms/req",
        "PG+Redis ms/req",
        "generator CPU",
        "non-2xx",
    )
    for column in columns:
        details.add_column(column, justify="left" if column in columns[:3] else "right")
    for (endpoint, name), m in sorted(results.items()):
        details.add_row(
            endpoint,
            name,
            " ".join(f"{rps:,.0f}" for rps in m.rps),
            f"{statistics.median(m.p50_ms):.1f}" if m.p50_ms else "-",
            f"{statistics.median(m.server_cpu):.0%}",
            f"{statistics.median(m.server_ms):.2f}",
            f"{statistics.median(m.backing_ms):.2f}" if name == "mes" else "-",
            f"{statistics.median(m.generator_cpu):.0%}",
            ", ".join(f"{s}: {c}" for s, c in sorted(m.errors.items())) or "0",
        )
    console.print(details)
    return ratios


def main(
    rounds: Annotated[int, typer.Option(min=1, help="Alternating rounds per endpoint.")] = 3,
    duration: Annotated[float, typer.Option(min=1, help="Measured seconds per phase.")] = 5.0,
    warmup: Annotated[float, typer.Option(min=0, help="Warm-up seconds before each phase.")] = 1.5,
    concurrency: Annotated[int, typer.Option(min=1, help="Connections kept busy.")] = 32,
    check: Annotated[bool, typer.Option(help="Exit 1 when a ratio is below its aim.")] = False,
) -> None:
    """Measure RPS of POST /orders and GET /orders/{id}: MES vs an in-memory baseline."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=130)
    cores = os.cpu_count() or 1
    console.print(
        "[bold]bench/orders[/]: MES (PostgreSQL primary + replica, Redis) vs a FastAPI baseline "
        "without a database; both on one uvicorn process with the same flags, driven by the same "
        f"generator ({concurrency} keep-alive connections, {rounds} alternating rounds of "
        f"{warmup:g} s warm-up + {duration:g} s)."
    )
    console.print(
        f"[yellow]This machine has {cores} CPU core{'s' if cores != 1 else ''}, shared by the "
        "server under test, PostgreSQL, Redis and the load generator: absolute RPS say little; "
        "read the ratios.[/]"
    )
    scratch = Path(tempfile.mkdtemp(prefix="preflight-bench-"))
    scratch.chmod(0o755)
    try:
        with ExitStack() as running:
            with console.status("starting the embedded stack and the baseline"):
                info = running.enter_context(
                    stack.running(state_dir=scratch / "stack", services=["mes"], tracing=False)
                )
                (scratch / "logs").mkdir()
                baseline = running.enter_context(baseline_server(scratch / "logs"))
                mes_url = info.services["mes"]
                mes = Server(
                    "mes",
                    mes_url,
                    _listening_pid(int(mes_url.rsplit(":", 1)[1])),
                    backing=backing_processes(scratch / "stack"),
                )
                prepare(mes, needs_master_data=True)
                prepare(baseline, needs_master_data=False)
            results = measure(
                [baseline, mes],
                rounds=rounds,
                warmup=warmup,
                duration=duration,
                concurrency=concurrency,
                console=console,
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    ratios = report(results, console)
    if check and any(ratios[endpoint] < aim for endpoint, aim in AIMS.items()):
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(main)
