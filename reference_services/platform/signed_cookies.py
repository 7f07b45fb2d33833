"""Values a browser keeps for a server (a session, a CSRF token), signed with HMAC-SHA256.

The client can read a value but not forge or alter one: each purpose derives its own key from the
service's secret, so a value signed for one purpose is refused for another, and a value carries
when it was signed, so an old one expires.
"""

import base64
import binascii
import hashlib
import hmac
import time
from typing import Any

import orjson


class CookieSigner:
    def __init__(self, secret: str, purpose: str) -> None:
        if not secret:
            raise ValueError("a cookie signer needs a secret")
        self._key = hashlib.sha256(f"{purpose}\x00{secret}".encode()).digest()

    def sign(self, payload: dict[str, Any], now: float | None = None) -> str:
        body = _b64(orjson.dumps(payload | {"iat": int(now if now is not None else time.time())}))
        return f"{body}.{self._mac(body)}"

    def unsign(
        self, value: str | None, max_age_s: int, now: float | None = None
    ) -> dict[str, Any] | None:
        """The payload of a value this signer signed at most `max_age_s` ago, else None."""
        if not value or value.count(".") != 1:
            return None
        body, mac = value.split(".")
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            payload = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (binascii.Error, ValueError):
            return None
        if not isinstance(payload, dict):
            return None
        issued = payload.get("iat")
        current = now if now is not None else time.time()
        if not isinstance(issued, int) or not 0 <= current - issued <= max_age_s:
            return None
        found: dict[str, Any] = payload
        return found

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
