"""Who is calling: the bearer token, verified once and then remembered until it expires."""

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

import jwt

from reference_services.platform.auth import Identity, TokenError, TokenVerifier, VerificationKey

EMBEDDED_KID = "embedded"
PLANT = re.compile(r"\*|[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def build_verifier(secret: str | None, public_keys: Mapping[str, str]) -> TokenVerifier:
    """HS256 for the embedded identity provider's secret (kid "embedded"), RS256 for every
    configured public key. A token without kid is checked with the secret, or with the only
    public key when there is no secret."""
    keys = {kid: VerificationKey("RS256", pem) for kid, pem in public_keys.items()}
    if secret:
        keys[EMBEDDED_KID] = VerificationKey("HS256", secret)
    default = EMBEDDED_KID if secret else (next(iter(keys)) if len(keys) == 1 else None)
    return TokenVerifier(keys=keys, default_kid=default)


class TokenCache:
    """Verified tokens by their text, least recently used first out, each until its expiry.

    Only valid tokens are remembered: a flood of forged tokens cannot evict good ones.
    """

    def __init__(
        self, verifier: TokenVerifier, size: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.verifier = verifier
        self.size = size
        self.clock = clock
        self._entries: OrderedDict[str, tuple[Identity, float]] = OrderedDict()

    def identity(self, token: str) -> Identity:
        """The caller of a valid token; raises TokenError otherwise."""
        entry = self._entries.get(token)
        if entry is not None:
            if self.clock() < entry[1]:
                self._entries.move_to_end(token)
                return entry[0]
            del self._entries[token]
        identity = self.verifier.verify(token)
        if not all(PLANT.fullmatch(plant) for plant in identity.plants):
            # a comma or a line break would widen X-Plant-Scope or forge headers upstream
            raise TokenError("plants must be plant codes or *")
        if self.size:
            expires = float(jwt.decode(token, options={"verify_signature": False})["exp"])
            self._entries[token] = (identity, expires)
            if len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return identity
