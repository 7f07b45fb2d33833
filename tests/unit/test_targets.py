"""Profiles: how a user points the suites at a deployed stack."""

from pathlib import Path

import pytest

from preflight.targets import DatabaseDsns, Target, TargetError, load_profile, write_profile
from reference_services.platform.auth import new_rs256_private_key

PROFILE = """
[target]
name = "preprod"
allow_load_hosts = ["mes.preprod.example"]

[services]
mes = "https://mes.preprod.example/"

[headers]
Authorization = "Bearer ${PREFLIGHT_TOKEN}"
X-Env = "${PREFLIGHT_ENV:-preprod}"

[databases.mes]
primary = "postgresql://qa@db.preprod.example/mes"
"""


def profile(tmp_path: Path, text: str = PROFILE) -> Path:
    path = tmp_path / "preprod.toml"
    path.write_text(text)
    return path


def test_a_profile_gives_urls_headers_and_dsns(tmp_path: Path) -> None:
    target = load_profile(profile(tmp_path), {"PREFLIGHT_TOKEN": "t0k"})
    assert target.name == "preprod"
    assert target.url("mes") == "https://mes.preprod.example"
    assert target.headers == {"Authorization": "Bearer t0k", "X-Env": "preprod"}
    assert target.database("mes") == DatabaseDsns("postgresql://qa@db.preprod.example/mes", None)
    assert target.allow_load_hosts == ("mes.preprod.example",)
    assert target.allow_destructive is False


def test_the_environment_overrides_the_file(tmp_path: Path) -> None:
    env = {
        "PREFLIGHT_TOKEN": "t",
        "PREFLIGHT_MES_URL": "http://127.0.0.1:9000",
        "PREFLIGHT_MES_REPLICA_DSN": "postgresql://qa@replica/mes",
        "PREFLIGHT_REDIS_URL": "redis://127.0.0.1:6390/0",
    }
    target = load_profile(profile(tmp_path), env)
    assert target.url("mes") == "http://127.0.0.1:9000"
    assert target.database("mes") == DatabaseDsns(
        "postgresql://qa@db.preprod.example/mes", "postgresql://qa@replica/mes"
    )
    assert target.redis_url == "redis://127.0.0.1:6390/0"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (PROFILE, r"\$\{PREFLIGHT_TOKEN\} but it is not set"),
        ("[services]\n", "lists no service URL"),
        ('[services]\nmes = "ftp://x"\n', "services.mes is not a http/https URL"),
        ("[services\n", "not valid TOML"),
        (
            '[services]\nmes = "http://x"\n[databases.mes]\nreplica = "postgresql://r/mes"\n',
            "needs at least primary",
        ),
    ],
)
def test_bad_profiles_are_refused_with_one_clear_line(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(TargetError, match=message) as raised:
        load_profile(profile(tmp_path, text), {})
    assert "\n" not in str(raised.value)


def test_a_missing_profile_is_named(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="profile not found"):
        load_profile(tmp_path / "nope.toml", {})


def test_an_unknown_service_is_named_with_the_known_ones() -> None:
    with pytest.raises(TargetError, match="has no 'crm' service \\(it has: mes\\)"):
        Target("t", {"mes": "http://x"}).url("crm")


def test_write_profile_round_trips(tmp_path: Path) -> None:
    target = Target(
        name="embedded",
        services={"mes": "http://127.0.0.1:8001"},
        headers={"Authorization": "Bearer x"},
        databases={
            "mes": DatabaseDsns(
                "postgresql://postgres@127.0.0.1:5433/mes",
                "postgresql://postgres@127.0.0.1:5434/mes",
            )
        },
        redis_url="redis://127.0.0.1:6380/0",
        allow_destructive=True,
        signing_key="s3cret",
        signing_kid="embedded",
        rs256_private_key=new_rs256_private_key(),  # a PEM: lines in a TOML string
        rs256_kid="embedded-rs256",
    )
    assert load_profile(write_profile(target, tmp_path / "t.toml"), {}) == target
    assert Target.from_json(target.to_json()) == target


def test_an_rs256_key_needs_its_kid(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text('[services]\ngateway = "https://gw.example"\n[auth]\nrs256_kid = "k1"\n')

    with pytest.raises(TargetError, match="rs256_private_key and rs256_kid go together"):
        load_profile(profile, {})
    assert load_profile(profile, {"PREFLIGHT_RS256_PRIVATE_KEY": "PEM"}).rs256_kid == "k1"
