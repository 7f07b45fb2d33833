"""`preflight contract --spec --base-url [-H ...]` against small real servers (uvicorn on
loopback): exit 0 when the service honours its document, 1 with a summary table when it does
not, 2 with one line on bad usage."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import FastAPI, Header, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from typer.testing import CliRunner

from fixtures.renamed_field import serving
from preflight.cli import app


class Item(BaseModel):
    id: int
    name: str


def items_app(*, honest: bool) -> FastAPI:
    """One operation behind a header token (an undocumented 401 without it); the dishonest one
    drops a required field of its answer."""
    api = FastAPI(title="items", version="1")

    @api.get("/items/{item_id}", response_model=Item, responses={404: {}})
    def get_item(
        item_id: Annotated[int, PathParam(ge=1, le=1000)],
        x_token: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        if x_token != "secret":
            raise HTTPException(401)
        return JSONResponse({"id": item_id, "name": "bolt"} if honest else {"id": item_id})

    return api


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "items.json"
    path.write_text(json.dumps(items_app(honest=True).openapi()))
    return path


@pytest.fixture
def honest_url() -> Iterator[str]:
    with serving(items_app(honest=True)) as url:
        yield url


@pytest.fixture
def dishonest_url() -> Iterator[str]:
    with serving(items_app(honest=False)) as url:
        yield url


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["contract", *args, "--max-examples", "3"])
    return result.exit_code, result.stdout, result.stderr


def test_a_service_that_honours_its_document_passes(spec: Path, honest_url: str) -> None:
    code, out, _ = run("--spec", str(spec), "--base-url", honest_url, "-H", "X-Token: secret")

    assert code == 0, out
    assert "no contract failures" in out


def test_a_missing_response_field_fails_with_a_summary_table(
    spec: Path, dishonest_url: str
) -> None:
    code, out, _ = run("--spec", str(spec), "--base-url", dishonest_url, "-H", "X-Token: secret")

    assert code == 1, out
    assert "Contract failures" in out
    assert "GET /items/{item_id}" in out
    assert "Response violates schema" in out
    assert "curl -X GET" in out


def test_headers_reach_the_service(spec: Path, honest_url: str) -> None:
    code, out, _ = run("--spec", str(spec), "--base-url", honest_url)

    assert code == 1, out  # without the token: the undocumented 401
    assert "Undocumented status code" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--spec", "/nonexistent/spec.yaml", "--base-url", "http://127.0.0.1:9"], "no OpenAPI"),
        (["--spec", "SPEC", "--base-url", "http://127.0.0.1:9", "-H", "no colon"], "bad header"),
        (["--spec", "SPEC", "--base-url", "ftp://example"], "not an http(s) URL"),
        (["--spec", "SPEC"], "--base-url are required"),
        (["--spec", "NOT_OPENAPI", "--base-url", "http://127.0.0.1:9"], "cannot read"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(
    spec: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    junk = tmp_path / "junk.yaml"
    junk.write_text("just: a mapping\n")
    replaced = [str(spec) if a == "SPEC" else str(junk) if a == "NOT_OPENAPI" else a for a in args]

    code, out, err = run(*replaced)

    assert code == 2, out + err
    assert message in err
    assert len(err.strip().splitlines()) == 1, err
