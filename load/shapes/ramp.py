"""Ramp: the arrival rate climbs from 10 % to 100 % of --arrival-rate over PREFLIGHT_RAMP_S
seconds (default 60), then holds until --run-time ends the test."""

import os

from preflight.load.open_model import RateShape

RAMP_S = float(os.environ.get("PREFLIGHT_RAMP_S", "60"))
START = 0.1


class Ramp(RateShape):
    def factor(self, run_time: float) -> float | None:
        if run_time >= RAMP_S:
            return 1.0
        return START + (1.0 - START) * run_time / RAMP_S
