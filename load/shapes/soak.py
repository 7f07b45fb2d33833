"""Soak: --arrival-rate held for PREFLIGHT_SOAK_S seconds (default 1800), after a one-minute
ramp: slow leaks (connections, memory, queues, replica lag) show over time, not at peak."""

import os

from preflight.load.open_model import RateShape

SOAK_S = float(os.environ.get("PREFLIGHT_SOAK_S", "1800"))
RAMP_S = 60.0


class Soak(RateShape):
    def factor(self, run_time: float) -> float | None:
        if run_time >= SOAK_S:
            return None
        return min(1.0, 0.1 + 0.9 * run_time / RAMP_S)
