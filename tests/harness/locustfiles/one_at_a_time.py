"""One request at a time, at a constant arrival rate: a client that waits for each answer, as
the coordinated-omission tests need."""

from locust import task

from preflight.load.open_model import OpenModelUser


class OneAtATime(OpenModelUser):
    max_in_flight = 1

    @task
    def ping(self) -> None:
        self.client.get("/", name="GET /")
