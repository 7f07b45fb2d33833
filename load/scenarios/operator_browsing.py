"""Operators browsing their screens' data under load, through the gateway: the plant's queue by
priority, an order's details, a work center's queue. Reads only (the plant gets 60 orders, some
released, at start), so it measures the read path: replica, cache and the gateway.

    preflight load run --scenario operator_browsing --rate 200 --duration 1m
"""

import uuid

from locust import task

from load.common import weights
from load.common.users import API, PlantUser
from preflight.clients.gateway import GatewayClient

W = weights.OPERATOR_BROWSING
ORDERS = 60


class OperatorBrowsing(PlantUser):
    def prepare(self, setup: GatewayClient) -> None:
        self.order_ids: list[str] = []
        for n in range(ORDERS):
            order = setup.create_order(self.new_order(), idempotency_key=str(uuid.uuid4()))
            assert order.status_code == 201, order.text
            self.order_ids.append(str(order.json()["id"]))
            if n % 2 == 0:
                assert setup.transition(self.order_ids[-1], "release").status_code == 200

    @task(W["queue_by_priority"])
    def queue_by_priority(self) -> None:
        self.client.get(
            f"{API}/orders",
            params={"plant": self.plant_code, "status": "released", "sort": "priority"},
            headers=self.headers["operator"],
            name="GET /orders?status=released",
        )

    @task(W["order_details"])
    def order_details(self) -> None:
        order_id = self.fake.random_element(self.order_ids)
        self.client.get(
            f"{API}/orders/{order_id}", headers=self.headers["operator"], name="GET /orders/{id}"
        )

    @task(W["work_center_queue"])
    def work_center_queue(self) -> None:
        self.client.get(
            f"{API}/orders",
            params={
                "plant": self.plant_code,
                "work_center": self.fake.random_element(self.plant.work_centers),
            },
            headers=self.headers["operator"],
            name="GET /orders?work_center",
        )
