"""Step: the arrival rate rises in PREFLIGHT_STEPS equal steps (default 5: 20 %, 40 % ... 100 %
of --arrival-rate), each held PREFLIGHT_STEP_S seconds (default 30), then the test ends."""

import os

from preflight.load.open_model import RateShape

STEPS = int(os.environ.get("PREFLIGHT_STEPS", "5"))
STEP_S = float(os.environ.get("PREFLIGHT_STEP_S", "30"))


class Step(RateShape):
    def factor(self, run_time: float) -> float | None:
        step = int(run_time // STEP_S)
        if step >= STEPS:
            return None
        return (step + 1) / STEPS
