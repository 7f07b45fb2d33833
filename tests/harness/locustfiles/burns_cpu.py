"""An iteration that burns 50 ms of CPU in the generator itself: at any rate above 20 per
second one generator process cannot keep up, which the run must call invalid."""

import time

from locust import task

from preflight.load.open_model import OpenModelUser


class BurnsCpu(OpenModelUser):
    @task
    def burn(self) -> None:
        end = time.perf_counter() + 0.05
        while time.perf_counter() < end:
            pass
        self.client.get("/", name="GET /")
