"""Compare two OpenAPI 3.0/3.1 documents: breaking changes apart from additive ones.

`preflight contract diff OLD NEW` reads each side from a file or a `REF:PATH` git ref, walks
paths, operations, parameters, request bodies and responses (following local `$ref`s, arrays,
`allOf` and `anyOf`/`oneOf` branches) and exits 1 when a client of OLD could break against NEW.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from preflight.verdict import ExitCode

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

Schema = dict[str, Any]
Document = dict[str, Any]


class ContractError(Exception):
    """An input that is not a readable OpenAPI 3 document."""


@dataclass(frozen=True)
class Change:
    kind: str
    location: str
    detail: str
    breaking: bool


@dataclass
class DiffReport:
    changes: list[Change] = field(default_factory=list)

    @property
    def breaking(self) -> list[Change]:
        return [change for change in self.changes if change.breaking]

    @property
    def additive(self) -> list[Change]:
        return [change for change in self.changes if not change.breaking]

    def to_json(self) -> dict[str, object]:
        return {
            "breaking": [asdict(change) for change in self.breaking],
            "additive": [asdict(change) for change in self.additive],
            "summary": {"breaking": len(self.breaking), "additive": len(self.additive)},
        }


# --- reading -------------------------------------------------------------------------------


def load_document(source: str) -> Document:
    """Read `source`, a file path or `REF:PATH`, and check it is an OpenAPI 3 document."""
    path = Path(source)
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ContractError(f"cannot read {source}: {error}") from None
    elif ":" in source and not path.exists():
        text = _git_show(source)
    else:
        raise ContractError(f"no such file: {source}")
    return parse_document(text, source)


def _git_show(spec: str) -> str:
    try:
        result = subprocess.run(
            ["git", "show", spec], capture_output=True, text=True, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ContractError(f"cannot run git show {spec}: {error}") from None
    if result.returncode != 0:
        reason = result.stderr.strip().splitlines()
        raise ContractError(f"bad git ref {spec}: {reason[0] if reason else 'git show failed'}")
    return result.stdout


def parse_document(text: str, source: str) -> Document:
    try:
        document = yaml.safe_load(text)  # YAML is a superset of JSON
    except yaml.YAMLError as error:
        first = str(error).splitlines()[0] if str(error) else "parse error"
        raise ContractError(f"{source} is not YAML or JSON: {first}") from None
    if not isinstance(document, dict):
        raise ContractError(f"{source} is not an OpenAPI document")
    version = document.get("openapi")
    if not isinstance(version, str) or not version.startswith("3."):
        raise ContractError(f"{source} is not an OpenAPI 3.x document (no 'openapi: 3.x')")
    paths = document.get("paths", {})
    if not isinstance(paths, dict):
        raise ContractError(f"{source}: 'paths' is not a mapping")
    return document


# --- schema helpers ------------------------------------------------------------------------


class _Resolver:
    def __init__(self, document: Document) -> None:
        self.document = document

    def resolve(self, node: Any, seen: frozenset[str] = frozenset()) -> Schema:
        """`node` with local `$ref`s followed (a cycle or a foreign ref gives `{}`)."""
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref: str = node["$ref"]
            if ref in seen or not ref.startswith("#/"):
                return {}
            seen = seen | {ref}
            target: Any = self.document
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                target = target.get(part) if isinstance(target, dict) else None
            node = target
        return node if isinstance(node, dict) else {}

    def branches(self, schema: Schema) -> list[Schema]:
        """The schema and the members of its allOf/anyOf/oneOf, resolved, recursively."""
        found = [schema]
        for key in ("allOf", "anyOf", "oneOf"):
            for member in schema.get(key, []) or []:
                found.extend(self.branches(self.resolve(member)))
        return found

    def types(self, schema: Schema) -> set[str]:
        found: set[str] = set()
        for branch in self.branches(schema):
            declared = branch.get("type")
            if isinstance(declared, str):
                found.add(declared)
            elif isinstance(declared, list):
                found.update(str(item) for item in declared)
            if branch.get("nullable") is True:
                found.add("null")
            if "const" in branch and branch["const"] is None:
                found.add("null")
        return found

    def enum(self, schema: Schema) -> list[Any] | None:
        values: list[Any] = []
        constrained = False
        for branch in self.branches(schema):
            if isinstance(branch.get("enum"), list):
                constrained = True
                values.extend(branch["enum"])
            elif "const" in branch:
                constrained = True
                values.append(branch["const"])
        return values if constrained else None

    def properties(self, schema: Schema) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for branch in self.branches(schema):
            props = branch.get("properties")
            if isinstance(props, dict):
                for name, sub in props.items():
                    merged.setdefault(name, sub)
        return merged

    def required(self, schema: Schema) -> set[str]:
        found: set[str] = set()
        for branch in self.branches(schema):
            if isinstance(branch.get("required"), list):
                found.update(str(name) for name in branch["required"])
        return found

    def items(self, schema: Schema) -> Schema | None:
        for branch in self.branches(schema):
            if isinstance(branch.get("items"), dict):
                return self.resolve(branch["items"])
        return None


def _covered(kind: str, types: set[str]) -> bool:
    return kind in types or (kind == "integer" and "number" in types)


def _show(types: set[str]) -> str:
    return "|".join(sorted(types))


# --- the diff ------------------------------------------------------------------------------


class _Differ:
    def __init__(self, old: Document, new: Document) -> None:
        self.old = _Resolver(old)
        self.new = _Resolver(new)
        self.report = DiffReport()

    def add(self, kind: str, location: str, detail: str, *, breaking: bool) -> None:
        self.report.changes.append(Change(kind, location, detail, breaking))

    def run(self) -> DiffReport:
        old_paths: dict[str, Any] = self.old.document.get("paths") or {}
        new_paths: dict[str, Any] = self.new.document.get("paths") or {}
        for path, old_item in old_paths.items():
            if path not in new_paths:
                self.add("path-removed", path, "path removed", breaking=True)
                continue
            self.path_item(path, self.old.resolve(old_item), self.new.resolve(new_paths[path]))
        for path in new_paths:
            if path not in old_paths:
                self.add("path-added", path, "new path", breaking=False)
        return self.report

    def path_item(self, path: str, old: Schema, new: Schema) -> None:
        for method in METHODS:
            where = f"{method.upper()} {path}"
            if method in old and method not in new:
                self.add("operation-removed", where, "operation removed", breaking=True)
            elif method in new and method not in old:
                self.add("operation-added", where, "new operation", breaking=False)
            elif method in old:
                shared = (old.get("parameters") or [], new.get("parameters") or [])
                self.operation(where, self.old.resolve(old[method]), self.new.resolve(new[method]))
                self.parameters(
                    where,
                    shared[0] + (old[method].get("parameters") or []),
                    shared[1] + (new[method].get("parameters") or []),
                )

    def operation(self, where: str, old: Schema, new: Schema) -> None:
        self.request_body(where, old.get("requestBody"), new.get("requestBody"))
        self.responses(where, old.get("responses") or {}, new.get("responses") or {})

    # parameters

    def _params(self, resolver: _Resolver, raw: list[Any]) -> dict[tuple[str, str], Schema]:
        found: dict[tuple[str, str], Schema] = {}
        for item in raw:
            param = resolver.resolve(item)
            if "name" in param and "in" in param:
                found[(str(param["in"]), str(param["name"]))] = param
        return found

    def parameters(self, where: str, old_raw: list[Any], new_raw: list[Any]) -> None:
        old = self._params(self.old, old_raw)
        new = self._params(self.new, new_raw)
        for key, param in new.items():
            location = f"{where} {key[0]} parameter {key[1]}"
            required = bool(param.get("required")) or key[0] == "path"
            if key not in old:
                if required:
                    self.add("required-added", location, "new required parameter", breaking=True)
                else:
                    self.add("optional-added", location, "new optional parameter", breaking=False)
                continue
            was_required = bool(old[key].get("required")) or key[0] == "path"
            if required and not was_required:
                self.add(
                    "required-added", location, "optional parameter made required", breaking=True
                )
            self.schema(
                location,
                "",
                self.old.resolve(old[key].get("schema")),
                self.new.resolve(param.get("schema")),
                request=True,
                seen=frozenset(),
            )

    # request bodies

    def _content(self, resolver: _Resolver, holder: Any) -> dict[str, Schema]:
        content = resolver.resolve(holder).get("content") or {}
        return {
            str(media): resolver.resolve(body.get("schema"))
            for media, body in content.items()
            if isinstance(body, dict)
        }

    def request_body(self, where: str, old_raw: Any, new_raw: Any) -> None:
        location = f"{where} request body"
        if new_raw is None:
            return
        new_body = self.new.resolve(new_raw)
        if old_raw is None:
            if new_body.get("required"):
                self.add("required-added", location, "new required request body", breaking=True)
            else:
                self.add("optional-added", location, "new optional request body", breaking=False)
            return
        old_body = self.old.resolve(old_raw)
        if new_body.get("required") and not old_body.get("required"):
            self.add("required-added", location, "request body made required", breaking=True)
        old_content = self._content(self.old, old_body)
        new_content = self._content(self.new, new_body)
        for media, old_schema in old_content.items():
            if media in new_content:
                self.schema(
                    location, "", old_schema, new_content[media], request=True, seen=frozenset()
                )

    # responses

    def responses(self, where: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        def success(codes: dict[str, Any]) -> set[str]:
            return {str(code) for code in codes if str(code).upper().startswith("2")}

        old_ok, new_ok = success(old), success(new)
        gone = sorted(old_ok - new_ok)
        for code in gone:
            if new_ok - old_ok:
                detail = f"success status {code} changed to {', '.join(sorted(new_ok - old_ok))}"
                self.add("status-changed", f"{where} response {code}", detail, breaking=True)
            else:
                detail = f"success status {code} removed"
                self.add("status-removed", f"{where} response {code}", detail, breaking=True)
        for code in new:
            if str(code) not in {str(key) for key in old}:
                self.add(
                    "status-added", f"{where} response {code}", "new status code", breaking=False
                )
        for code, old_response in old.items():
            if code not in new:
                continue
            location = f"{where} response {code}"
            old_content = self._content(self.old, old_response)
            new_content = self._content(self.new, new[code])
            for media, old_schema in old_content.items():
                if media in new_content:
                    self.schema(
                        location,
                        "",
                        old_schema,
                        new_content[media],
                        request=False,
                        seen=frozenset(),
                    )

    # schemas

    def schema(
        self,
        location: str,
        pointer: str,
        old: Schema,
        new: Schema,
        *,
        request: bool,
        seen: frozenset[tuple[int, int]],
    ) -> None:
        if (id(old), id(new)) in seen:
            return
        seen = seen | {(id(old), id(new))}
        where = f"{location} {pointer}" if pointer else location
        old_types, new_types = self.old.types(old), self.new.types(new)
        if old_types and new_types:
            lost = {kind for kind in old_types if not _covered(kind, new_types)}
            if lost:
                detail = f"type {_show(old_types)} -> {_show(new_types)}"
                self.add("type-narrowed", where, detail, breaking=True)
            elif new_types - old_types:
                detail = f"type {_show(old_types)} -> {_show(new_types)}"
                self.add("type-widened", where, detail, breaking=False)
        old_enum, new_enum = self.old.enum(old), self.new.enum(new)
        if old_enum is not None and new_enum is not None:
            removed = [value for value in old_enum if value not in new_enum]
            added = [value for value in new_enum if value not in old_enum]
            if removed:
                detail = f"enum values removed: {', '.join(map(str, removed))}"
                self.add("enum-narrowed", where, detail, breaking=True)
            if added:
                detail = f"enum values added: {', '.join(map(str, added))}"
                self.add("enum-widened", where, detail, breaking=False)
        elif old_enum is None and new_enum is not None:
            detail = f"now restricted to: {', '.join(map(str, new_enum))}"
            self.add("enum-narrowed", where, detail, breaking=True)

        old_props, new_props = self.old.properties(old), self.new.properties(new)
        old_required, new_required = self.old.required(old), self.new.required(new)
        for name, sub in old_props.items():
            child = f"{pointer}.{name}"
            child_where = f"{location} {child}"
            if name not in new_props:
                if not request:
                    self.add("field-removed", child_where, "response field removed", breaking=True)
                continue
            if request and name in new_required and name not in old_required:
                self.add(
                    "required-added", child_where, "optional field made required", breaking=True
                )
            self.schema(
                location,
                child,
                self.old.resolve(sub),
                self.new.resolve(new_props[name]),
                request=request,
                seen=seen,
            )
        for name in new_props:
            if name in old_props:
                continue
            child_where = f"{location} {pointer}.{name}"
            if not request:
                self.add("field-added", child_where, "new response field", breaking=False)
            elif name in new_required:
                self.add("required-added", child_where, "new required field", breaking=True)
            else:
                self.add("optional-added", child_where, "new optional field", breaking=False)

        old_items, new_items = self.old.items(old), self.new.items(new)
        if old_items is not None and new_items is not None:
            self.schema(location, f"{pointer}[]", old_items, new_items, request=request, seen=seen)


def diff_documents(old: Document, new: Document) -> DiffReport:
    """Every change from `old` to `new`, each marked breaking or additive."""
    return _Differ(old, new).run()


# --- the command ---------------------------------------------------------------------------

contract_app = typer.Typer(
    help="API contracts: check a running service against its OpenAPI document "
    "(--spec, --base-url), or compare two documents for breaking changes (diff).",
    no_args_is_help=True,
)


def _table(changes: list[Change]) -> Table:
    table = Table(title="Breaking changes", title_style="bold red")
    table.add_column("kind", style="red")
    table.add_column("location", overflow="fold")
    table.add_column("detail", overflow="fold")
    for change in changes:
        table.add_row(change.kind, change.location, change.detail)
    return table


@contract_app.command("diff")
def diff_command(
    old: Annotated[str, typer.Argument(help="Old spec: a YAML/JSON file or REF:PATH.")],
    new: Annotated[str, typer.Argument(help="New spec: a YAML/JSON file or REF:PATH.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON report.")] = False,
) -> None:
    """Report breaking changes from OLD to NEW (exit 1 if any) and list the additive ones."""
    try:
        report = diff_documents(load_document(old), load_document(new))
    except ContractError as error:
        Console(stderr=True, soft_wrap=True).print(
            f"[bold red]error:[/] {error}", markup=True, highlight=False
        )
        raise typer.Exit(ExitCode.USAGE) from None
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2, default=str))
    else:
        console = Console(soft_wrap=False)
        if report.breaking:
            console.print(_table(report.breaking))
        else:
            console.print("[green]no breaking changes[/]")
        if report.additive:
            console.print(f"[bold]Additive changes ({len(report.additive)}):[/]")
            for change in report.additive:
                console.print(
                    f"  + {change.kind}: {change.location} — {change.detail}",
                    markup=False,
                    highlight=False,
                )
    raise typer.Exit(ExitCode.FUNCTIONAL_FAILURE if report.breaking else ExitCode.PASS)
