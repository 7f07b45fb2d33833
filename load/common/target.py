"""What a scenario knows of its target: the Target preflight hands over (PREFLIGHT_TARGET_JSON,
or the file named by --preflight-target), else just the Locust --host as a gateway."""

import os
from pathlib import Path

from locust.env import Environment

from preflight.targets import Target


class ScenarioSetupError(RuntimeError):
    """The scenario cannot run against this target (no way to authenticate, no plant data)."""


def scenario_target(environment: Environment) -> Target:
    raw = os.environ.get("PREFLIGHT_TARGET_JSON")
    options = environment.parsed_options
    path = getattr(options, "preflight_target", "") if options else ""
    if not raw and path:
        raw = Path(path).read_text()
    if raw:
        return Target.from_json(raw)
    if not environment.host:
        raise ScenarioSetupError("no target: pass --host (the gateway) or --preflight-target")
    return Target(name="host", services={"gateway": environment.host.rstrip("/")})
