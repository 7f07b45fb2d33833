"""Signed cookies and password hashes of the operator screens."""

from reference_services.platform.passwords import check_password, hash_password
from reference_services.platform.signed_cookies import CookieSigner

NOW = 1_800_000_000.0


def test_a_signed_value_reads_back_until_it_expires() -> None:
    signer = CookieSigner("secret", "session")
    value = signer.sign({"sub": "ann"}, now=NOW)

    assert signer.unsign(value, max_age_s=60, now=NOW + 60) == {"sub": "ann", "iat": int(NOW)}
    assert signer.unsign(value, max_age_s=60, now=NOW + 61) is None


def test_an_altered_or_foreign_value_is_refused() -> None:
    signer = CookieSigner("secret", "session")
    value = signer.sign({"sub": "ann"}, now=NOW)
    body, mac = value.split(".")

    assert signer.unsign(body + "." + mac[::-1], 60, now=NOW) is None
    assert signer.unsign(value.replace(body, body[:-1] + "A"), 60, now=NOW) is None
    assert CookieSigner("secret", "csrf").unsign(value, 60, now=NOW) is None
    assert CookieSigner("other secret", "session").unsign(value, 60, now=NOW) is None
    assert signer.unsign("not a signed value", 60, now=NOW) is None


def test_a_password_matches_only_its_own_hash() -> None:
    stored = hash_password("correct horse")

    assert check_password("correct horse", stored)
    assert not check_password("correct horse!", stored)
    assert not check_password("correct horse", None)
    assert not check_password("correct horse", "md5$abc")
    assert hash_password("correct horse") != stored  # salted
