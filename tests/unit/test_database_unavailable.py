"""A service that cannot reach its database refuses with 503 service-unavailable and
Retry-After (the client may retry), not 500; other errors stay 500. The errors are real: a
connection to a port nobody listens on, a file that is not there."""

from pathlib import Path

import asyncpg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from preflight.expect import expect_problem
from preflight.ports import LOOPBACK, free_port
from reference_services.platform.problems import database_unavailable, install_problem_handlers


async def connect_to_nothing() -> None:
    await asyncpg.connect(host=LOOPBACK, port=free_port(), user="x", timeout=2, ssl=False)


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/refused")
    async def refused() -> None:
        await connect_to_nothing()

    @app.post("/wrapped")
    async def wrapped() -> None:
        try:
            await connect_to_nothing()
        except OSError as error:
            raise OperationalError("connect", {}, error) from error

    @app.post("/missing-file")
    async def missing_file() -> None:
        (tmp_path / "absent").read_text()

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize("path", ["/refused", "/wrapped"])
def test_an_unreachable_database_is_a_503_with_retry_after(client: TestClient, path: str) -> None:
    response = client.post(path)

    expect_problem(response, 503, "service-unavailable")
    assert response.headers["retry-after"] == "1"


def test_an_error_that_is_not_the_database_being_away_stays_a_500(client: TestClient) -> None:
    response = client.post("/missing-file")

    expect_problem(response, 500, "internal-error")
    assert not database_unavailable(FileNotFoundError("absent"))
