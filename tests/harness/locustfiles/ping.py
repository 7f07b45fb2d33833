"""One GET per iteration, as many at once as the rate needs."""

from locust import task

from preflight.load.open_model import OpenModelUser


class Ping(OpenModelUser):
    @task
    def ping(self) -> None:
        self.client.get("/", name="GET /")
