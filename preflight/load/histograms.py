"""Latency histograms (HdrHistogram): recorded in microseconds, merged by adding counts (never by
averaging percentiles), shipped between processes as HDR's compressed encoding."""

from collections.abc import Iterable
from typing import Any

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # an hour: anything slower is clamped
DIGITS = 2
"""Two significant digits: each value within 1 %, small enough to keep one per second."""


def new() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def record_ms(histogram: HdrHistogram, milliseconds: float) -> None:
    histogram.record_value(min(max(int(milliseconds * 1000), LOWEST_US), HIGHEST_US))


def encode(histogram: HdrHistogram) -> str:
    raw: bytes = histogram.encode()
    return raw.decode("ascii")


def decode(text: str) -> HdrHistogram:
    decoded: HdrHistogram = HdrHistogram.decode(text.encode("ascii"))
    return decoded


def merged(histograms: Iterable[HdrHistogram]) -> HdrHistogram:
    total = new()
    for histogram in histograms:
        total.add(histogram)
    return total


def summary(histogram: HdrHistogram) -> dict[str, Any]:
    """count, p50/p90/p95/p99/max and mean in milliseconds (None without samples)."""
    count = int(histogram.get_total_count())
    if count == 0:
        return {
            "count": 0,
            "p50": None,
            "p90": None,
            "p95": None,
            "p99": None,
            "max": None,
            "mean": None,
        }
    return {
        "count": count,
        **{
            f"p{q}": round(histogram.get_value_at_percentile(q) / 1000, 3) for q in (50, 90, 95, 99)
        },
        "max": round(histogram.get_max_value() / 1000, 3),
        "mean": round(histogram.get_mean_value() / 1000, 3),
    }


def percentile_ms(histogram: HdrHistogram, percentile: float) -> float:
    return float(histogram.get_value_at_percentile(percentile)) / 1000
