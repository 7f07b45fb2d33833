"""Opaque cursors of keyset pagination: the sort, the last row's sort value and its id."""

import base64
import binascii
import uuid
from datetime import date, datetime
from typing import Any

import orjson


class InvalidCursor(ValueError):
    pass


def encode_cursor(sort: str, value: datetime | date | int, row_id: uuid.UUID) -> str:
    shown = value.isoformat() if isinstance(value, datetime | date) else value
    raw = orjson.dumps({"s": sort, "v": shown, "id": str(row_id)})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(
    cursor: str, sort: str, kind: type[datetime] | type[date] | type[int]
) -> tuple[Any, uuid.UUID]:
    """The last row's (value, id) of a page listed in `sort` order, whose values are of `kind`."""
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(data, dict) or data.get("s") != sort:
            raise InvalidCursor("the cursor belongs to another sort order")
        value: Any = data["v"]
        if kind is datetime:
            value = datetime.fromisoformat(value)
            if value.tzinfo is None:
                raise InvalidCursor("malformed cursor")
        elif kind is date:
            value = date.fromisoformat(value)
        elif not isinstance(value, int):
            raise InvalidCursor("malformed cursor")
        return value, uuid.UUID(data["id"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        if isinstance(exc, InvalidCursor):
            raise
        raise InvalidCursor("malformed cursor") from exc
