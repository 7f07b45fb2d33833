"""`preflight contract diff`: breaking changes apart from additive ones, one test per rule."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from preflight.cli import app
from preflight.contract_diff import (
    Change,
    ContractError,
    DiffReport,
    diff_documents,
    load_document,
    parse_document,
)

ROOT = Path(__file__).resolve().parents[2]
MES = ROOT / "contracts" / "openapi" / "mes.yaml"


def spec() -> dict[str, Any]:
    """A small OpenAPI 3.1 document: POST /orders with $refs, arrays, allOf and an enum."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/orders": {
                "post": {
                    "parameters": [
                        {
                            "name": "plant",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string"},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/OrderCreate"}
                            }
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "created",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Order"}
                                }
                            },
                        },
                        "422": {"description": "invalid"},
                    },
                },
                "get": {"responses": {"200": {"description": "list"}}},
            }
        },
        "components": {
            "schemas": {
                "OrderCreate": {
                    "type": "object",
                    "required": ["sku"],
                    "properties": {
                        "sku": {"type": "string"},
                        "quantity": {"type": "number"},
                        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                    },
                },
                "Status": {"type": "string", "enum": ["released", "held"]},
                "Item": {
                    "type": "object",
                    "properties": {
                        "seq": {"type": "integer"},
                        "status": {"$ref": "#/components/schemas/Status"},
                    },
                },
                "Base": {"type": "object", "properties": {"id": {"type": "string"}}},
                "Order": {
                    "allOf": [
                        {"$ref": "#/components/schemas/Base"},
                        {
                            "type": "object",
                            "properties": {
                                "total": {"type": "number"},
                                "items": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/Item"},
                                },
                            },
                        },
                    ]
                },
            }
        },
    }


def schemas(document: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = document["components"]["schemas"]
    return result


def post(document: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = document["paths"]["/orders"]["post"]
    return result


def kinds(changes: list[Change]) -> set[tuple[str, str]]:
    return {(change.kind, change.location) for change in changes}


def run_diff(mutate: Any) -> DiffReport:
    old = spec()
    new = copy.deepcopy(old)
    mutate(new)
    return diff_documents(old, new)


def test_identical_specs_have_no_changes() -> None:
    assert diff_documents(spec(), spec()).changes == []


def test_removed_path_breaks_and_new_path_is_additive() -> None:
    report = run_diff(lambda d: d["paths"].update({"/plants": d["paths"].pop("/orders")}))
    assert kinds(report.breaking) == {("path-removed", "/orders")}
    assert kinds(report.additive) == {("path-added", "/plants")}


def test_removed_operation_breaks_and_new_operation_is_additive() -> None:
    def mutate(d: dict[str, Any]) -> None:
        item = d["paths"]["/orders"]
        item["put"] = item.pop("get")

    report = run_diff(mutate)
    assert kinds(report.breaking) == {("operation-removed", "GET /orders")}
    assert kinds(report.additive) == {("operation-added", "PUT /orders")}


def test_removed_response_field_breaks_through_ref_array_and_allof() -> None:
    def mutate(d: dict[str, Any]) -> None:
        del schemas(d)["Item"]["properties"]["status"]  # under allOf → items[] → $ref
        del schemas(d)["Base"]["properties"]["id"]  # allOf member
        schemas(d)["Item"]["properties"]["label"] = {"type": "string"}

    report = run_diff(mutate)
    assert kinds(report.breaking) == {
        ("field-removed", "POST /orders response 201 .items[].status"),
        ("field-removed", "POST /orders response 201 .id"),
    }
    assert kinds(report.additive) == {("field-added", "POST /orders response 201 .items[].label")}


def test_narrowed_type_breaks_and_widened_type_is_additive() -> None:
    def mutate(d: dict[str, Any]) -> None:
        schemas(d)["Order"]["allOf"][1]["properties"]["total"] = {"type": "integer"}
        schemas(d)["OrderCreate"]["properties"]["sku"] = {"type": "integer"}  # changed type
        schemas(d)["Item"]["properties"]["seq"] = {"type": "number"}  # widened

    report = run_diff(mutate)
    assert kinds(report.breaking) == {
        ("type-narrowed", "POST /orders response 201 .total"),
        ("type-narrowed", "POST /orders request body .sku"),
    }
    assert kinds(report.additive) == {("type-widened", "POST /orders response 201 .items[].seq")}
    narrowed = next(c for c in report.breaking if c.location.endswith(".total"))
    assert narrowed.detail == "type number -> integer"


def test_nullable_removed_from_anyof_is_a_narrowed_type() -> None:
    def mutate(d: dict[str, Any]) -> None:
        schemas(d)["OrderCreate"]["properties"]["note"] = {"type": "string"}

    report = run_diff(mutate)
    assert kinds(report.breaking) == {("type-narrowed", "POST /orders request body .note")}


def test_narrowed_enum_breaks_and_widened_enum_is_additive() -> None:
    narrowed = run_diff(lambda d: schemas(d)["Status"].update(enum=["released"]))
    assert kinds(narrowed.breaking) == {
        ("enum-narrowed", "POST /orders response 201 .items[].status")
    }
    assert "held" in narrowed.breaking[0].detail

    widened = run_diff(lambda d: schemas(d)["Status"].update(enum=["released", "held", "done"]))
    assert widened.breaking == []
    assert kinds(widened.additive) == {
        ("enum-widened", "POST /orders response 201 .items[].status")
    }


def test_narrowed_enum_in_request_parameter_breaks() -> None:
    def mutate(d: dict[str, Any]) -> None:
        post(d)["parameters"][0]["schema"] = {"type": "string", "enum": ["P1"]}

    report = run_diff(mutate)
    assert kinds(report.breaking) == {("enum-narrowed", "POST /orders query parameter plant")}


def test_new_required_body_field_breaks_and_new_optional_is_additive() -> None:
    def mutate(d: dict[str, Any]) -> None:
        create = schemas(d)["OrderCreate"]
        create["properties"]["plant"] = {"type": "string"}
        create["properties"]["priority"] = {"type": "integer"}
        create["required"] = ["sku", "plant"]

    report = run_diff(mutate)
    assert kinds(report.breaking) == {("required-added", "POST /orders request body .plant")}
    assert kinds(report.additive) == {("optional-added", "POST /orders request body .priority")}


def test_optional_body_field_made_required_breaks() -> None:
    report = run_diff(lambda d: schemas(d)["OrderCreate"].update(required=["sku", "quantity"]))
    assert kinds(report.breaking) == {("required-added", "POST /orders request body .quantity")}
    assert report.breaking[0].detail == "optional field made required"


def test_new_required_parameter_breaks_and_new_optional_is_additive() -> None:
    def mutate(d: dict[str, Any]) -> None:
        post(d)["parameters"] += [
            {"name": "x-tenant", "in": "header", "required": True, "schema": {"type": "string"}},
            {"name": "dry_run", "in": "query", "schema": {"type": "boolean"}},
        ]

    report = run_diff(mutate)
    assert kinds(report.breaking) == {("required-added", "POST /orders header parameter x-tenant")}
    assert kinds(report.additive) == {("optional-added", "POST /orders query parameter dry_run")}


def test_optional_parameter_made_required_breaks() -> None:
    report = run_diff(lambda d: post(d)["parameters"][0].update(required=True))
    assert kinds(report.breaking) == {("required-added", "POST /orders query parameter plant")}


def test_changed_success_status_breaks_and_new_status_is_additive() -> None:
    def mutate(d: dict[str, Any]) -> None:
        responses = post(d)["responses"]
        responses["200"] = responses.pop("201")
        responses["409"] = {"description": "conflict"}

    report = run_diff(mutate)
    assert kinds(report.breaking) == {("status-changed", "POST /orders response 201")}
    assert "200" in report.breaking[0].detail
    assert kinds(report.additive) == {
        ("status-added", "POST /orders response 200"),
        ("status-added", "POST /orders response 409"),
    }


def test_removed_success_status_breaks_but_removed_error_status_does_not() -> None:
    def mutate(d: dict[str, Any]) -> None:
        del d["paths"]["/orders"]["get"]["responses"]["200"]
        d["paths"]["/orders"]["get"]["responses"]["default"] = {"description": "x"}
        del post(d)["responses"]["422"]

    report = run_diff(mutate)
    assert kinds(report.breaking) == {("status-removed", "GET /orders response 200")}


def test_recursive_schema_does_not_loop() -> None:
    def recursive(d: dict[str, Any]) -> None:
        schemas(d)["Item"]["properties"]["children"] = {
            "type": "array",
            "items": {"$ref": "#/components/schemas/Item"},
        }

    old = spec()
    recursive(old)
    new = copy.deepcopy(old)
    del schemas(new)["Item"]["properties"]["seq"]
    report = diff_documents(old, new)
    assert ("field-removed", "POST /orders response 201 .items[].seq") in kinds(report.breaking)


def test_json_report_shape() -> None:
    report = run_diff(lambda d: schemas(d)["Status"].update(enum=["released"]))
    data = report.to_json()
    assert data["summary"] == {"breaking": 1, "additive": 0}
    assert data["breaking"] == [
        {
            "kind": "enum-narrowed",
            "location": "POST /orders response 201 .items[].status",
            "detail": "enum values removed: held",
            "breaking": True,
        }
    ]


def test_not_openapi_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="not an OpenAPI 3"):
        parse_document("swagger: '2.0'\npaths: {}\n", "old.yaml")
    with pytest.raises(ContractError, match="no such file"):
        load_document(str(tmp_path / "missing.yaml"))


def test_git_ref_is_read_with_git_show(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    document = load_document("HEAD:contracts/openapi/mes.yaml")
    assert document["info"]["title"] == "MES"
    with pytest.raises(ContractError, match="bad git ref"):
        load_document("no-such-ref-xyz:contracts/openapi/mes.yaml")


# --- the command on the real MES contract ---------------------------------------------------


def test_cli_same_spec_exits_0() -> None:
    result = CliRunner().invoke(app, ["contract", "diff", str(MES), str(MES)])
    assert result.exit_code == 0, result.output
    assert "no breaking changes" in result.output


def test_cli_removed_response_field_exits_1_and_names_it(tmp_path: Path) -> None:
    document = yaml.safe_load(MES.read_text())
    del document["components"]["schemas"]["OrderPublic"]["properties"]["priority"]
    changed = tmp_path / "mes.yaml"
    changed.write_text(yaml.safe_dump(document, sort_keys=False))

    result = CliRunner().invoke(app, ["contract", "diff", str(MES), str(changed)])
    assert result.exit_code == 1, result.output
    assert "POST /orders response 201 .priority" in result.output

    as_json = CliRunner().invoke(app, ["contract", "diff", "--json", str(MES), str(changed)])
    assert as_json.exit_code == 1
    report = json.loads(as_json.stdout)
    found = {(change["kind"], change["location"]) for change in report["breaking"]}
    assert ("field-removed", "POST /orders response 201 .priority") in found
    assert all(change["kind"] == "field-removed" for change in report["breaking"])


def test_cli_missing_file_exits_2_with_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = CliRunner().invoke(app, ["contract", "diff", str(MES), str(missing)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "no such file" in result.stderr
