"""An arrival rate steered from outside a running Locust: the capacity search moves one run from
step to step instead of starting Locust again for each (which costs seconds of start-up per
step on a busy machine, and cold connections every time).

The search writes {"rate": r} (or {"stop": true}) to the control file; `ControlledRate`
(preflight/load/controlled_rate.py), a rate shape given to Locust beside the scenario
(`-f scenario.py,preflight/load/controlled_rate.py --preflight-control FILE`), reads it every
second and scales --arrival-rate to match.
"""

import json
import os
from pathlib import Path

SHAPE_FILE = Path(__file__).with_name("controlled_rate.py")
"""The locustfile holding the shape (apart: importing Locust monkey-patches the importer)."""


def set_rate(path: Path, rate: float) -> None:
    _write(path, {"rate": rate})


def stop(path: Path) -> None:
    _write(path, {"stop": True})


def _write(path: Path, content: dict[str, object]) -> None:
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(content))
    os.replace(partial, path)
