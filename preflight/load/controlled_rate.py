"""The rate shape of a capacity search: the arrival rate the control file names (see
preflight.load.rate_control), read every second; {"stop": true} ends the run."""

import json
from pathlib import Path

from preflight.load.open_model import RateShape


class ControlledRate(RateShape):
    def factor(self, run_time: float) -> float | None:
        options = self.runner.environment.parsed_options if self.runner else None
        base = float(getattr(options, "arrival_rate", 0.0) or 0.0)
        control = getattr(options, "preflight_control", "")
        if not control or base <= 0:
            return 1.0
        try:
            content = json.loads(Path(control).read_text())
        except (OSError, ValueError):
            return 1.0  # not written yet, or mid-replace: keep the base rate
        if content.get("stop"):
            return None
        return float(content.get("rate", base)) / base
