"""The order flow under load, through the gateway: the CRM integration places orders (with
idempotency keys), planners release them and pull the plant's report, operators check their
queue, open an order, start it and work its operations (the last one completes the order).

Each arrival is one step, one request: the step of an order waiting for it (orders move
placed -> released -> started -> through their operations), or, when no order waits, the step
before it. So `--rate` is requests per second, and the weights (load/common/weights.py) set the
mix.

    preflight load run --scenario order_flow --rate 100 --duration 30s
    locust -f load/scenarios/order_flow.py,load/shapes/step.py --arrival-rate 100 -u 1 --headless
"""

import collections
import uuid
from dataclasses import dataclass

from locust import task

from load.common import weights
from load.common.users import API, POOL_LIMIT, PlantUser

W = weights.ORDER_FLOW


@dataclass
class Working:
    order_id: str
    operations: int
    seq: int = 1
    running: bool = False


class OrderFlow(PlantUser):
    def on_start(self) -> None:
        super().on_start()
        self.working: collections.deque[Working] = collections.deque(maxlen=POOL_LIMIT)
        self.seen: collections.deque[str] = collections.deque(maxlen=1000)

    @task(W["crm_places_order"])
    def crm_places_order(self) -> None:
        order = self.new_order()
        headers = self.headers["crm-integration"] | {"Idempotency-Key": str(uuid.uuid4())}
        with self.client.post(
            f"{API}/orders", json=order, headers=headers, name="POST /orders", catch_response=True
        ) as response:
            if response.status_code != 201:
                response.failure(f"HTTP {response.status_code}")
                return
            order_id = str(response.json()["id"])
        self.planned.append((order_id, len(order["operations"])))
        self.seen.append(order_id)

    @task(W["planner_releases_order"])
    def planner_releases_order(self) -> None:
        if not self.planned:
            self.crm_places_order()
            return
        order = self.planned.popleft()
        if self.transition(order[0], "release", "planner"):
            self.released.append(order)

    @task(W["operator_starts_order"])
    def operator_starts_order(self) -> None:
        if not self.released:
            self.planner_releases_order()
            return
        order_id, operations = self.released.popleft()
        if self.transition(order_id, "start", "operator"):
            self.working.append(Working(order_id, operations))

    @task(W["operator_starts_operation"])
    def operator_starts_operation(self) -> None:
        self.work_operation(start=True)

    @task(W["operator_completes_operation"])
    def operator_completes_operation(self) -> None:
        self.work_operation(start=False)

    def work_operation(self, *, start: bool) -> None:
        found = next((w for w in self.working if w.running is not start), None)
        if found is None:
            self.operator_starts_order()
            return
        self.working.remove(found)
        action = "start" if start else "complete"
        response = self.client.post(
            f"{API}/orders/{found.order_id}/operations/{found.seq}/{action}",
            headers=self.headers["operator"],
            name=f"POST /orders/{{id}}/operations/{{seq}}/{action}",
        )
        if response.status_code != 200:
            return
        if start:
            found.running = True
        else:
            found.running, found.seq = False, found.seq + 1
        if found.seq <= found.operations:  # past the last one, the order is completed
            self.working.append(found)

    @task(W["operator_checks_queue"])
    def operator_checks_queue(self) -> None:
        params = {"plant": self.plant_code, "status": "released", "sort": "priority", "limit": 20}
        self.client.get(
            f"{API}/orders",
            params=params,
            headers=self.headers["operator"],
            name="GET /orders?status=released",
        )

    @task(W["operator_opens_order"])
    def operator_opens_order(self) -> None:
        if not self.seen:
            self.crm_places_order()
            return
        order_id = self.seen[int(self.fake.random_int(0, len(self.seen) - 1))]
        self.client.get(
            f"{API}/orders/{order_id}", headers=self.headers["operator"], name="GET /orders/{id}"
        )

    @task(W["planner_pulls_report"])
    def planner_pulls_report(self) -> None:
        self.client.get(
            f"{API}/reports/orders-by-status",
            params={"plant": self.plant_code},
            headers=self.headers["planner"],
            name="GET /reports/orders-by-status",
        )

    def transition(self, order_id: str, action: str, role: str) -> bool:
        response = self.client.post(
            f"{API}/orders/{order_id}/{action}",
            headers=self.headers[role],
            name=f"POST /orders/{{id}}/{action}",
        )
        return response.status_code == 200
