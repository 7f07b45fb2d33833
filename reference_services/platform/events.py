"""The event envelope every service publishes on a Redis Stream, and its JSON Schema contracts.

An envelope carries `specversion`, `id`, `type`, `source`, `time`, `subject`, `sequence`,
`traceparent` and `data`; `contracts/events/envelope.schema.json` defines it and
`contracts/events/<type>.schema.json` the `data` of each event type.
"""

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

SPEC_VERSION = "1.0"
STREAM_FIELD = b"envelope"
CONTRACTS = Path(__file__).resolve().parents[2] / "contracts" / "events"


class InvalidEvent(ValueError):
    """A stream entry that is not a valid envelope, or whose data breaks its type's schema."""


@dataclass(frozen=True)
class Envelope:
    id: uuid.UUID
    type: str
    source: str
    time: datetime
    subject: str
    sequence: int
    data: dict[str, Any]
    traceparent: str | None = None

    def document(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "specversion": SPEC_VERSION,
            "id": str(self.id),
            "type": self.type,
            "source": self.source,
            "time": self.time.isoformat(),
            "subject": self.subject,
            "sequence": self.sequence,
            "data": self.data,
        }
        if self.traceparent:
            document["traceparent"] = self.traceparent
        return document

    def fields(self) -> dict[bytes, bytes]:
        """The Redis Stream entry: one field holding the JSON document."""
        return {STREAM_FIELD: orjson.dumps(self.document())}


def decode(fields: Mapping[bytes, bytes]) -> Envelope:
    """The envelope of a stream entry, checked against the envelope schema (not the data's)."""
    raw = fields.get(STREAM_FIELD)
    if raw is None:
        raise InvalidEvent("the stream entry has no envelope field")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise InvalidEvent(f"the envelope is not JSON: {error}") from error
    problem = first_error(envelope_validator(), document)
    if problem:
        raise InvalidEvent(f"invalid envelope: {problem}")
    return Envelope(
        id=uuid.UUID(document["id"]),
        type=document["type"],
        source=document["source"],
        time=datetime.fromisoformat(document["time"]),
        subject=document["subject"],
        sequence=document["sequence"],
        data=document["data"],
        traceparent=document.get("traceparent"),
    )


def validation_errors(document: Mapping[str, Any]) -> list[str]:
    """Every way a document breaks the envelope schema or its type's data schema (empty: valid)."""
    errors = [_describe(e) for e in envelope_validator().iter_errors(document)]
    event_type = document.get("type")
    if errors or not isinstance(event_type, str):
        return errors
    validator = data_validator(event_type)
    if validator is None:
        return [f"no schema for event type {event_type!r} in {CONTRACTS}"]
    return [f"data: {_describe(e)}" for e in validator.iter_errors(document.get("data"))]


def first_error(validator: Draft202012Validator, document: object) -> str | None:
    error = next(iter(validator.iter_errors(document)), None)
    return None if error is None else _describe(error)


def known_types() -> list[str]:
    return sorted(p.name.removesuffix(".schema.json") for p in _data_schemas())


@cache
def envelope_validator() -> Draft202012Validator:
    return _validator(CONTRACTS / "envelope.schema.json")


@cache
def data_validator(event_type: str) -> Draft202012Validator | None:
    path = CONTRACTS / f"{event_type}.schema.json"
    return _validator(path) if path.is_file() else None


def _data_schemas() -> list[Path]:
    return [p for p in CONTRACTS.glob("*.schema.json") if p.name != "envelope.schema.json"]


def _validator(path: Path) -> Draft202012Validator:
    schema = json.loads(path.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _describe(error: ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"{where}: {error.message}"
