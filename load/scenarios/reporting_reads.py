"""Planners pulling the plant's reports under load, through the gateway: orders by status,
throughput per shift, lead time per SKU, late orders, and the CSV export. The plant gets 40
orders at start, some completed, so every figure has data.

    preflight load run --scenario reporting_reads --rate 50 --duration 1m
"""

import uuid

from locust import task

from load.common import weights
from load.common.users import API, PlantUser
from preflight.clients.gateway import GatewayClient

W = weights.REPORTING_READS
ORDERS = 40


class ReportingReads(PlantUser):
    def prepare(self, setup: GatewayClient) -> None:
        for n in range(ORDERS):
            order = setup.create_order(self.new_order(), idempotency_key=str(uuid.uuid4()))
            assert order.status_code == 201, order.text
            if n % 2 == 0:
                for action in ("release", "start", "complete"):
                    done = setup.transition(str(order.json()["id"]), action)
                    assert done.status_code == 200, done.text

    def report(self, path: str, name: str, **params: str) -> None:
        self.client.get(
            f"{API}/reports/{path}",
            params={"plant": self.plant_code, **params},
            headers=self.headers["planner"],
            name=name,
        )

    @task(W["orders_by_status"])
    def orders_by_status(self) -> None:
        self.report("orders-by-status", "GET /reports/orders-by-status")

    @task(W["throughput_by_shift"])
    def throughput_by_shift(self) -> None:
        self.report("throughput", "GET /reports/throughput", granularity="shift")

    @task(W["lead_time"])
    def lead_time(self) -> None:
        self.report("lead-time", "GET /reports/lead-time")

    @task(W["late_orders"])
    def late_orders(self) -> None:
        self.report("late-orders", "GET /reports/late-orders")

    @task(W["orders_by_status_csv"])
    def orders_by_status_csv(self) -> None:
        self.report("orders-by-status", "GET /reports/orders-by-status?format=csv", format="csv")
