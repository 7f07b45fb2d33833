"""The gate's breaking-change step compares the working tree's specs with `main` in a real git
repository: a removed operation fails it, an added one passes, no git or no main skips it."""

import subprocess
from pathlib import Path

import yaml

from preflight.breaking_changes import check_against_base

SPEC = {
    "openapi": "3.1.0",
    "info": {"title": "t", "version": "1"},
    "paths": {
        "/orders": {"get": {"responses": {"200": {"description": "ok"}}}},
        "/orders/{id}": {
            "get": {
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": {"description": "ok"}},
            }
        },
    },
}


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def repo_with_main(root: Path) -> Path:
    specs = root / "contracts" / "openapi"
    specs.mkdir(parents=True)
    (specs / "mes.yaml").write_text(yaml.safe_dump(SPEC))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "spec")
    return specs / "mes.yaml"


def test_a_removed_operation_fails_the_step(tmp_path: Path) -> None:
    spec = repo_with_main(tmp_path)
    changed = {**SPEC, "paths": {"/orders": SPEC["paths"]["/orders"]}}
    spec.write_text(yaml.safe_dump(changed))

    result = check_against_base(tmp_path)

    assert result.status == "fail"
    (diff,) = result.specs
    assert diff.spec == "contracts/openapi/mes.yaml"
    assert any("/orders/{id}" in change for change in diff.breaking)


def test_an_added_operation_and_a_new_spec_pass(tmp_path: Path) -> None:
    spec = repo_with_main(tmp_path)
    grown = {**SPEC, "paths": {**SPEC["paths"], "/products": SPEC["paths"]["/orders"]}}
    spec.write_text(yaml.safe_dump(grown))
    (spec.parent / "crm.yaml").write_text(yaml.safe_dump(SPEC))

    result = check_against_base(tmp_path)

    assert result.status == "pass", result.reason
    by_spec = {diff.spec: diff for diff in result.specs}
    assert by_spec["contracts/openapi/mes.yaml"].additive >= 1
    assert by_spec["contracts/openapi/crm.yaml"].breaking == []


def test_outside_git_or_without_main_the_step_is_skipped(tmp_path: Path) -> None:
    outside = tmp_path / "plain"
    outside.mkdir()
    assert check_against_base(outside).status == "skipped"

    repo = tmp_path / "repo"
    repo.mkdir()
    repo_with_main(repo)
    git(repo, "branch", "-m", "main", "trunk")
    skipped = check_against_base(repo)
    assert skipped.status == "skipped"
    assert "main" in skipped.reason
