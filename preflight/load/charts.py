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
