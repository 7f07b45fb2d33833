"""An arrival rate steered from outside a running Locust: the capacity search moves one run from
step to step instead of starting Locust again for each (which costs seconds of start-up per
step on a busy machine, and cold connections every time).

The search writes {"rate": r} (or {"stop": true}) to the control file; `ControlledRate`, a rate
shape given to Locust beside the scenario (`-f scenario.py,preflight/load/rate_control.py
--preflight-control FILE`), reads it every second and scales --arrival-rate to match.
"""

import json
import os
from pathlib import Path

from preflight.load.open_model import RateShape

SHAPE_FILE = Path(__file__)


def set_rate(path: Path, rate: float) -> None:
    _write(path, {"rate": rate})


def stop(path: Path) -> None:
    _write(path, {"stop": True})


def _write(path: Path, content: dict[str, object]) -> None:
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(content))
    os.replace(partial, path)


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
