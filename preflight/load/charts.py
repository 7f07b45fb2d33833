"""Charts of a load run (PNG, matplotlib): throughput and errors, and latency percentiles, over
time."""

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def write_charts(out: Path, document: dict[str, Any]) -> list[Path]:
    series = document.get("series") or []
    if not series:
        return []
    t = [row["t"] for row in series]
    written = []
    figure, axis = plt.subplots(figsize=(8, 3.2))
    axis.plot(t, [row["requests"] for row in series], label="requests/s")
    axis.plot(t, [row["errors"] for row in series], label="errors/s", color="tab:red")
    axis.set_xlabel("seconds")
    axis.set_title("Throughput")
    axis.legend(loc="upper left")
    figure.tight_layout()
    written.append(_save(figure, out / "throughput.png"))
    figure, axis = plt.subplots(figsize=(8, 3.2))
    for key in ("p50", "p95", "p99"):
        axis.plot(t, [row[key] for row in series], label=f"{key} (corrected)")
    axis.set_xlabel("seconds")
    axis.set_ylabel("ms")
    axis.set_title("Latency")
    axis.legend(loc="upper left")
    figure.tight_layout()
    written.append(_save(figure, out / "latency.png"))
    return written


def _save(figure: Any, path: Path) -> Path:
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def write_capacity_charts(out: Path, document: dict[str, Any]) -> list[Path]:
    """A capacity search: achieved against offered rate, latency against rate, and the USL fit
    over the steps' (concurrency, throughput)."""
    steps = [s for s in document.get("steps") or [] if s.get("verdict") != "invalid"]
    if not steps:
        return []
    steps = sorted(steps, key=lambda s: s["rate"])
    rates = [s["rate"] for s in steps]
    colours = ["tab:green" if s["verdict"] == "pass" else "tab:red" for s in steps]
    written = []
    figure, axis = plt.subplots(figsize=(8, 3.6))
    axis.plot(rates, rates, linestyle=":", color="grey", label="offered")
    axis.plot(rates, [s.get("achieved_rps") or 0 for s in steps], color="tab:blue")
    axis.scatter(rates, [s.get("achieved_rps") or 0 for s in steps], c=colours, zorder=3)
    band = document.get("band") or {}
    if band.get("low") is not None:
        axis.axvspan(band["low"], band.get("high") or band["low"], color="orange", alpha=0.2)
        axis.axvline(band["low"], color="orange", label=f"max sustainable {band['low']:g}/s")
    axis.set_xlabel("offered (iterations/s)")
    axis.set_ylabel("achieved (iterations/s)")
    axis.set_title("Capacity: throughput against offered rate (green: SLOs held)")
    axis.legend(loc="upper left")
    figure.tight_layout()
    written.append(_save(figure, out / "capacity_throughput.png"))
    figure, axis = plt.subplots(figsize=(8, 3.6))
    for key in ("p50_ms", "p95_ms", "p99_ms"):
        axis.plot(rates, [s.get(key) or 0 for s in steps], marker="o", label=key[:3])
    axis.set_yscale("log")
    axis.set_xlabel("offered (iterations/s)")
    axis.set_ylabel("ms (corrected, steady)")
    axis.set_title("Capacity: latency against rate")
    axis.legend(loc="upper left")
    figure.tight_layout()
    written.append(_save(figure, out / "capacity_latency.png"))
    points = [(s["concurrency"], s["requests_rps"]) for s in steps if s.get("concurrency")]
    fit = document.get("usl") or {}
    if points:
        figure, axis = plt.subplots(figsize=(8, 3.6))
        axis.scatter([p[0] for p in points], [p[1] for p in points], label="steps")
        if fit.get("lambda") is not None:
            from preflight.load.usl import throughput

            top = max(max(p[0] for p in points), fit.get("peak_concurrency") or 0) * 1.2
            n = [top * i / 200 for i in range(1, 201)]
            axis.plot(
                n,
                [throughput(v, fit["lambda"], fit["sigma"], fit["kappa"]) for v in n],
                color="tab:purple",
                label=f"USL sigma={fit['sigma']:.3g} kappa={fit['kappa']:.3g}",
            )
        axis.set_xlabel("concurrency N (Little's law: X * R)")
        axis.set_ylabel("throughput X (requests/s)")
        axis.set_title(f"Universal Scalability Law: {fit.get('reason', '')}"[:90])
        axis.legend(loc="lower right")
        figure.tight_layout()
        written.append(_save(figure, out / "capacity_usl.png"))
    return written
