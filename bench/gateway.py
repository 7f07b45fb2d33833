"""Requests per second of GET /orders/{id} through the gateway next to the MES called directly.

The bench starts the embedded stack (MES + gateway, PostgreSQL primary + replica, Redis) in a
scratch state directory, creates orders, and drives both sides with the same closed-loop generator
(bench/loadgen.py, in its own process) in alternating rounds of warm-up + measured phases. The
gateway side does everything a real call does: JWT check (cached), a token-bucket EVALSHA in
Redis (the token's limit is high enough never to refuse), X-Plant-Scope, trace context, the MES
call on a keep-alive pool. The direct side sends the same X-Plant-Scope, so that the MES does the
same work on both sides.

    uv run python bench/gateway.py [--rounds 3] [--duration 5] [--concurrency 32] [--check]

Exit 0 always (a measurement), or with --check exit 1 when the ratio is below its aim.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import shutil
import statistics
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Final

import httpx
import psutil
import typer
from rich.console import Console
from rich.table import Table

from bench.loadgen import Phase, PhaseResult, request, run_phase
from preflight import stack
from preflight.tokens import mint
from reference_services.platform.auth import RateLimit

AIM: Final = 0.7
PLANT: Final = "BENCHGW"
ORDERS: Final = 200
UNLIMITED: Final = RateLimit(per_second=1e9, burst=1_000_000_000)


@dataclass
class Side:
    name: str
    url: str
    requests: tuple[bytes, ...]
    processes: dict[str, int] = field(default_factory=dict)
    rps: list[float] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)
    cpu_ms: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[int, int] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def cpu(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self.processes.items()}

    def add(self, result: PhaseResult, cpu_before: dict[str, float]) -> None:
        self.rps.append(result.ok / result.seconds)
        self.p50_ms.append(statistics.median(result.latencies_ms or [0.0]))
        for name, seconds in self.cpu().items():
            used = (seconds - cpu_before[name]) * 1000 / max(result.ok, 1)
            self.cpu_ms.setdefault(name, []).append(used)
        for status, count in result.statuses.items():
            if not 200 <= status < 300:
                self.errors[status] = self.errors.get(status, 0) + count

    def cpu_per_request(self, process: str) -> str:
        spent = self.cpu_ms.get(process)
        return f"{statistics.median(spent):.2f}" if spent else "-"


def listening_pid(port: int) -> int:
    for connection in psutil.net_connections(kind="tcp"):
        address = connection.laddr
        if (
            connection.status == psutil.CONN_LISTEN
            and isinstance(address, tuple)
            and address[1:2] == (port,)
            and connection.pid is not None
        ):
            return connection.pid
    raise RuntimeError(f"no process listens on port {port}")


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def create_orders(mes_url: str) -> list[str]:
    """A plant with a work center and a product, and ORDERS orders of it (on the MES directly)."""
    with httpx.Client(base_url=mes_url, timeout=10) as client:
        client.post("/work-centers", json={"plant": PLANT, "code": "CNC-01", "name": "Bench CNC"})
        routing = [{"work_center": "CNC-01", "description": "Mill", "planned_minutes": 30}]
        client.post(
            "/products",
            json={"plant": PLANT, "sku": "BENCH-1", "name": "Bench part", "routing": routing},
        )
        ids = []
        for n in range(ORDERS):
            response = client.post(
                "/orders",
                json={
                    "order_ref": f"GW-{uuid.uuid4().hex[:8]}-{n}",
                    "customer_ref": "CUST-1",
                    "sku": "BENCH-1",
                    "quantity": 5,
                    "due_date": "2030-01-31",
                    "plant": PLANT,
                },
            )
            if response.status_code != 201:
                raise RuntimeError(f"POST /orders: {response.status_code} {response.text[:300]}")
            ids.append(str(response.json()["id"]))
    return ids


def measure(
    sides: list[Side], *, rounds: int, warmup: float, duration: float, concurrency: int
) -> None:
    console = Console(highlight=False)
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        for round_number in range(rounds):
            for side in sides if round_number % 2 == 0 else sides[::-1]:
                phase = Phase(side.port, side.requests, warmup, concurrency)
                pool.submit(run_phase, phase).result()
                before = side.cpu()
                phase = Phase(side.port, side.requests, duration, concurrency)
                result = pool.submit(run_phase, phase).result()
                side.add(result, before)
                console.print(
                    f"  round {round_number + 1}/{rounds} {side.name:<16} "
                    f"{result.ok / result.seconds:8.0f} rps  p50 {side.p50_ms[-1]:6.1f} ms  "
                    f"generator CPU {result.generator_cpu_seconds / result.seconds:4.0%}"
                )


def report(direct: Side, gateway: Side) -> float:
    ratios = [g / d for d, g in zip(direct.rps, gateway.rps, strict=True) if d > 0]
    ratio = statistics.median(ratios) if ratios else 0.0
    table = Table(title="GET /orders/{id}: through the gateway vs the MES directly (medians)")
    for column in ("", "MES direct", "via gateway"):
        table.add_column(column, justify="left" if not column else "right")
    table.add_row(
        "RPS", f"{statistics.median(direct.rps):,.0f}", f"{statistics.median(gateway.rps):,.0f}"
    )
    table.add_row(
        "RPS per round",
        " ".join(f"{r:,.0f}" for r in direct.rps),
        " ".join(f"{r:,.0f}" for r in gateway.rps),
    )
    table.add_row(
        "p50 latency ms",
        f"{statistics.median(direct.p50_ms):.1f}",
        f"{statistics.median(gateway.p50_ms):.1f}",
    )
    table.add_row(
        "MES CPU ms/request", direct.cpu_per_request("mes"), gateway.cpu_per_request("mes")
    )
    table.add_row("gateway CPU ms/request", "-", gateway.cpu_per_request("gateway"))
    table.add_row(
        "non-2xx",
        ", ".join(f"{s}: {c}" for s, c in sorted(direct.errors.items())) or "0",
        ", ".join(f"{s}: {c}" for s, c in sorted(gateway.errors.items())) or "0",
    )
    console = Console(highlight=False)
    console.print(table)
    verdict = "[green]ok[/]" if ratio >= AIM else "[red]below aim[/]"
    console.print(
        f"ratio gateway/direct: [bold]{ratio:.2f}[/] (median of per-round ratios; aim >= {AIM}) "
        f"{verdict}"
    )
    mes_direct, mes_via = direct.cpu_ms.get("mes"), gateway.cpu_ms.get("mes")
    spent = gateway.cpu_ms.get("gateway")
    if mes_direct and mes_via and spent:
        alone = statistics.median(mes_direct)
        via, own = statistics.median(mes_via), statistics.median(spent)
        console.print(
            "if the gateway and the MES each had a core of their own, the CPU per request above "
            f"would allow a ratio of {alone / max(via, own):.2f}; on a machine busy with other "
            "work they share what is left, and the ratio falls towards MES / (MES + gateway) = "
            f"{alone / (via + own):.2f}"
        )
    return ratio


def main(
    rounds: Annotated[int, typer.Option(min=1, help="Alternating rounds.")] = 3,
    duration: Annotated[float, typer.Option(min=1, help="Measured seconds per phase.")] = 5.0,
    warmup: Annotated[float, typer.Option(min=0, help="Warm-up seconds before each phase.")] = 1.5,
    concurrency: Annotated[int, typer.Option(min=1, help="Connections kept busy.")] = 32,
    check: Annotated[bool, typer.Option(help="Exit 1 when the ratio is below the aim.")] = False,
) -> None:
    """Measure GET /orders/{id} RPS through the gateway and on the MES directly, same run."""
    console = Console(highlight=False)
    cores = os.cpu_count() or 1
    console.print(
        f"[bold]bench/gateway[/]: GET /orders/{{id}} through the gateway vs the MES directly; "
        f"{concurrency} keep-alive connections, {rounds} alternating rounds of {warmup:g} s "
        f"warm-up + {duration:g} s. {cores} CPU core(s) shared by the generator, the gateway, "
        "the MES, PostgreSQL and Redis: read the ratio, not the absolute RPS."
    )
    console.print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    scratch = Path(tempfile.mkdtemp(prefix="preflight-bench-gateway-"))
    scratch.chmod(0o755)
    try:
        with console.status("starting the embedded stack (MES + gateway)"):
            running = stack.running(
                state_dir=scratch / "stack", services=["mes", "gateway"], tracing=False
            )
            info = running.__enter__()
        try:
            ids = create_orders(info.services["mes"])
            token = mint(info.jwt_secret, "operator", PLANT, rate_limit=UNLIMITED, subject="bench")
            scope = {"X-Plant-Scope": PLANT}
            auth = {"Authorization": f"Bearer {token}"}
            direct = Side(
                "MES direct",
                info.services["mes"],
                tuple(request("GET", f"/orders/{i}", scope) for i in ids),
            )
            gateway = Side(
                "via gateway",
                info.services["gateway"],
                tuple(request("GET", f"/api/v1/orders/{i}", auth) for i in ids),
            )
            mes_pid = listening_pid(direct.port)
            direct.processes = {"mes": mes_pid}
            gateway.processes = {"mes": mes_pid, "gateway": listening_pid(gateway.port)}
            measure(
                [direct, gateway],
                rounds=rounds,
                warmup=warmup,
                duration=duration,
                concurrency=concurrency,
            )
        finally:
            running.__exit__(None, None, None)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    console.print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    ratio = report(direct, gateway)
    if check and ratio < AIM:
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(main)
