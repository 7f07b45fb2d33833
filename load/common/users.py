"""The base user of the bundled scenarios: a dispatcher (open model) working one plant of its
own through the gateway, as the CRM integration, a planner and an operator of that plant.

On start it sets the plant up (work centers, products) with the fixtures' factories over plain
HTTP (set-up traffic is not measured) and mints one token per role (the target's signing key),
or uses the target's Authorization header for every role. Every request carries X-Preflight-Run
and W3C baggage `synthetic_request=true`, and every order it creates has an order_ref starting
`PF-<run id>-`, which `preflight load cleanup --run ID` finds.
"""

import collections
import os
import random
import uuid
from typing import Any

from faker import Faker

from fixtures.mes import MesFactory, Plant
from load.common.target import ScenarioSetupError, scenario_target
from preflight.clients.gateway import GatewayClient
from preflight.load.open_model import OpenModelUser
from preflight.tokens import mint
from reference_services.platform.auth import RateLimit

API = "/api/v1"
ROLES = ("crm-integration", "planner", "operator")
UNLIMITED = RateLimit(per_second=1_000_000.0, burst=1_000_000)
"""Load tokens are not throttled by the gateway: the arrival rate is the throttle."""
POOL_LIMIT = 10_000


def run_id(environment: Any) -> str:
    options = environment.parsed_options
    given = getattr(options, "preflight_run", "") if options else ""
    return given or os.environ.get("PREFLIGHT_RUN_ID") or f"load{uuid.uuid4().hex[:8]}"


class PlantUser(OpenModelUser):
    abstract = True
    work_centers = 3
    products = 3

    def on_start(self) -> None:
        target = scenario_target(self.environment)
        self.run_id = run_id(self.environment)
        self.fake = Faker()
        self.fake.seed_instance(random.SystemRandom().randrange(2**32))
        self.plant_code = "L" + self.fake.hexify("^^^^^^^^^^", upper=True)
        self.headers = self._headers(target)
        setup = GatewayClient(
            target.url("gateway"), None, headers=target.headers, run_id=self.run_id
        )
        setup.http.headers.update(self.headers["planner"])
        try:
            self.factory = MesFactory(setup, self.fake, self.run_id)
            self.plant: Plant = self.factory.create_plant(
                self.work_centers, self.products, code=self.plant_code
            )
            self.prepare(setup)
        except AssertionError as error:
            raise ScenarioSetupError(
                f"setting up plant {self.plant_code} failed: {error}"
            ) from None
        finally:
            setup.close()
        self.planned: collections.deque[tuple[str, int]] = collections.deque(maxlen=POOL_LIMIT)
        self.released: collections.deque[tuple[str, int]] = collections.deque(maxlen=POOL_LIMIT)

    def prepare(self, setup: GatewayClient) -> None:
        """Data the scenario needs before its first iteration (override)."""

    def _headers(self, target: Any) -> dict[str, dict[str, str]]:
        common = {"X-Preflight-Run": self.run_id, "baggage": "synthetic_request=true"}
        if target.signing_key:
            return {
                role: common
                | {
                    "Authorization": "Bearer "
                    + mint(
                        target,
                        role,
                        [self.plant_code],
                        subject=f"load-{role}-{self.plant_code}",
                        ttl_s=24 * 3600,
                        rate_limit=UNLIMITED,
                    )
                }
                for role in ROLES
            }
        given = {k: v for k, v in target.headers.items() if k.lower() == "authorization"}
        if not given:
            raise ScenarioSetupError(
                "the target gives neither a signing key nor an Authorization header"
            )
        return {role: common | given for role in ROLES}

    def new_order(self) -> dict[str, Any]:
        return self.factory.build_order(self.plant)
