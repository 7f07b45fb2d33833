"""Spike: half of --arrival-rate, then PREFLIGHT_SPIKE_FACTOR times it (default 3) for
PREFLIGHT_SPIKE_S seconds (default 10) starting at PREFLIGHT_SPIKE_AT_S (default 30), then half
again until PREFLIGHT_SPIKE_TOTAL_S (default 90): how the system absorbs a burst and recovers."""

import os

from preflight.load.open_model import RateShape

BASE = 0.5
FACTOR = float(os.environ.get("PREFLIGHT_SPIKE_FACTOR", "3"))
AT_S = float(os.environ.get("PREFLIGHT_SPIKE_AT_S", "30"))
SPIKE_S = float(os.environ.get("PREFLIGHT_SPIKE_S", "10"))
TOTAL_S = float(os.environ.get("PREFLIGHT_SPIKE_TOTAL_S", "90"))


class Spike(RateShape):
    def factor(self, run_time: float) -> float | None:
        if run_time >= TOTAL_S:
            return None
        return FACTOR if AT_S <= run_time < AT_S + SPIKE_S else BASE
