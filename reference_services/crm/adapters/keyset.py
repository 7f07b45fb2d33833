"""Opaque cursors of the CRM's lists, which page by (created_at, id) like the MES's."""

import base64
import binascii
import uuid
from datetime import datetime

import orjson


class InvalidCursor(ValueError):
    pass


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    raw = orjson.dumps({"c": created_at.isoformat(), "id": str(row_id)})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(data, dict):
            raise InvalidCursor("malformed cursor")
        created_at = datetime.fromisoformat(data["c"])
        if created_at.tzinfo is None:
            raise InvalidCursor("malformed cursor")
        return created_at, uuid.UUID(data["id"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        if isinstance(exc, InvalidCursor):
            raise
        raise InvalidCursor("malformed cursor") from exc
