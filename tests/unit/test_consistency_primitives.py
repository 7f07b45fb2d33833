"""LSN arithmetic and the order list's cursors: the pieces read-your-writes and paging rest on."""

import uuid
from datetime import UTC, date, datetime

import pytest

from preflight.clients.session import lsn_value
from reference_services.mes.adapters.orders_repository import decode_cursor
from reference_services.platform.db import format_lsn, parse_lsn
from reference_services.platform.keyset import InvalidCursor, encode_cursor


@pytest.mark.parametrize("text", ["0/0", "0/16B3748", "1/0", "FF/FFFFFFFF", "16/B374D848"])
def test_lsn_round_trips(text: str) -> None:
    assert format_lsn(parse_lsn(text)) == text
    assert lsn_value(text) == parse_lsn(text)


def test_lsns_order_by_high_word_first() -> None:
    assert parse_lsn("1/0") > parse_lsn("0/FFFFFFFF")


@pytest.mark.parametrize("text", ["", "16B3748", "x/1", "1/"])
def test_malformed_lsns_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"LSN|invalid literal"):
        parse_lsn(text)


@pytest.mark.parametrize(
    ("sort", "value"),
    [
        ("created_at", datetime(2026, 11, 25, 1, 2, 3, 456789, tzinfo=UTC)),
        ("-due_date", date(2026, 12, 1)),
        ("priority", 3),
    ],
)
def test_cursors_round_trip(sort: str, value: object) -> None:
    order_id = uuid.uuid4()
    assert decode_cursor(encode_cursor(sort, value, order_id), sort) == (value, order_id)


def test_a_cursor_cannot_be_used_with_another_sort() -> None:
    cursor = encode_cursor("priority", 2, uuid.uuid4())
    with pytest.raises(InvalidCursor, match="another sort"):
        decode_cursor(cursor, "-priority")


@pytest.mark.parametrize("cursor", ["garbage", "eyJ4IjoxfQ", "e30"])
def test_malformed_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor, "created_at")


def test_a_cursor_with_a_time_without_zone_is_refused() -> None:
    naive = encode_cursor("created_at", datetime(2026, 11, 25, 1, 2, 3), uuid.uuid4())
    with pytest.raises(InvalidCursor, match="malformed"):
        decode_cursor(naive, "created_at")
