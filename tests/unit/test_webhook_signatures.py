"""Signed webhooks: HMAC-SHA256 over "<timestamp>.<body>", a tolerance on the timestamp, and
several signatures accepted while a secret is rotated."""

import pytest

from reference_services.platform.webhook_signatures import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    signature,
    signed_headers,
    verify,
)

SECRET = "whsec_test"
BODY = b'{"id":"1","type":"order.completed"}'
NOW = 1_800_000_000.0


def test_a_signed_request_verifies_and_carries_its_id() -> None:
    headers = signed_headers(SECRET, "delivery-1", BODY, now=NOW)

    verify(SECRET, BODY, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], now=NOW + 10)
    assert headers[ID_HEADER] == "delivery-1"
    assert headers[SIGNATURE_HEADER].startswith("v1=")
    assert len(headers[SIGNATURE_HEADER]) == 3 + 64


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    # Computed independently: printf '1800000000.{...}' | openssl dgst -sha256 -hmac whsec_test
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), b"1800000000." + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, 1_800_000_000, BODY) == f"v1={expected}"


@pytest.mark.parametrize(
    ("secret", "body", "at", "message"),
    [
        ("whsec_other", BODY, NOW, "no Webhook-Signature matches"),
        (SECRET, BODY + b" ", NOW, "no Webhook-Signature matches"),
        (SECRET, BODY, NOW + 301, "more than 300 s"),
        (SECRET, BODY, NOW - 301, "more than 300 s"),
    ],
    ids=["other secret", "tampered body", "replayed later", "from the future"],
)
def test_a_request_with_the_wrong_secret_body_or_time_is_refused(
    secret: str, body: bytes, at: float, message: str
) -> None:
    headers = signed_headers(SECRET, "d", BODY, now=NOW)

    with pytest.raises(SignatureError, match=message):
        verify(secret, body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], now=at)


def test_at_the_edge_of_the_tolerance_a_request_still_verifies() -> None:
    headers = signed_headers(SECRET, "d", BODY, now=NOW)

    verify(SECRET, BODY, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], now=NOW + 300)


@pytest.mark.parametrize(
    ("timestamp", "signature_header"),
    [(None, "v1=00"), ("1800000000", None), ("", ""), ("soon", "v1=00")],
)
def test_missing_or_malformed_headers_are_refused(
    timestamp: str | None, signature_header: str | None
) -> None:
    with pytest.raises(SignatureError):
        verify(SECRET, BODY, timestamp, signature_header, now=NOW)


def test_any_of_several_signatures_may_match_while_a_secret_is_rotated() -> None:
    timestamp = int(NOW)
    both = f"{signature('whsec_old', timestamp, BODY)} {signature(SECRET, timestamp, BODY)}"

    verify(SECRET, BODY, str(timestamp), both, now=NOW)
    verify("whsec_old", BODY, str(timestamp), both, now=NOW)
    with pytest.raises(SignatureError):
        verify("whsec_third", BODY, str(timestamp), both, now=NOW)
