"""Signed webhooks: HMAC-SHA256 over "<timestamp>.<body>", checked with a tolerance on the
timestamp so a captured request cannot be replayed later.

The sender adds three headers: Webhook-Id (stable across retries of one delivery, for the
receiver's deduplication), Webhook-Timestamp (Unix seconds of this attempt) and Webhook-Signature
("v1=<hex digest>"; several space-separated values are accepted so a secret can be rotated).
"""

import hashlib
import hmac
import time

ID_HEADER = "Webhook-Id"
TIMESTAMP_HEADER = "Webhook-Timestamp"
SIGNATURE_HEADER = "Webhook-Signature"
VERSION = "v1"
TOLERANCE_S = 300


class SignatureError(Exception):
    """The request is unsigned, signed with another secret, or too old (or from the future)."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{VERSION}={mac.hexdigest()}"


def signed_headers(
    secret: str, webhook_id: str, body: bytes, now: float | None = None
) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {
        ID_HEADER: webhook_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def verify(
    secret: str,
    body: bytes,
    timestamp_header: str | None,
    signature_header: str | None,
    *,
    now: float | None = None,
    tolerance_s: int = TOLERANCE_S,
) -> None:
    """Raise SignatureError unless one of the signatures is the body's under this secret and
    the timestamp is within tolerance_s of now."""
    if not timestamp_header or not signature_header:
        raise SignatureError("missing Webhook-Timestamp or Webhook-Signature")
    try:
        timestamp = int(timestamp_header)
    except ValueError:
        raise SignatureError("Webhook-Timestamp is not Unix seconds") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise SignatureError(f"Webhook-Timestamp is more than {tolerance_s} s from now")
    expected = signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, given) for given in signature_header.split()):
        raise SignatureError("no Webhook-Signature matches the body")
