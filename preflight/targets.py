"""What a run tests: the embedded stack or a preprod described by a profile (TOML + environment).

A profile names base URLs per service, headers sent with every request (auth), and optionally the
DSNs of the services' databases and Redis, which some tests need to look behind the API.
Environment variables override the file: PREFLIGHT_<SERVICE>_URL, PREFLIGHT_<SERVICE>_DSN,
PREFLIGHT_<SERVICE>_REPLICA_DSN, PREFLIGHT_REDIS_URL, PREFLIGHT_SIGNING_KEY (the HS256 key that
tokens are minted with, for suites that need callers of several roles), PREFLIGHT_SIGNING_KID
(the kid the gateway knows that key by), PREFLIGHT_RS256_PRIVATE_KEY and PREFLIGHT_RS256_KID (a
PEM private key whose public half the gateway pins under that kid, for the JWT attack tests).
"""

import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from reference_services.catalog import SERVICES
from reference_services.gateway.entrypoints.authentication import EMBEDDED_KID

if TYPE_CHECKING:
    from preflight.stack import StackInfo

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class TargetError(Exception):
    """The target could not be resolved: a bad profile, a missing variable, an unknown service."""


@dataclass(frozen=True)
class DatabaseDsns:
    primary: str
    replica: str | None = None


@dataclass(frozen=True)
class Target:
    name: str
    services: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)
    databases: dict[str, DatabaseDsns] = field(default_factory=dict)
    redis_url: str | None = None
    allow_destructive: bool = False
    allow_load_hosts: tuple[str, ...] = ()
    signing_key: str | None = None
    signing_kid: str | None = None
    """The kid of the HS256 signing key at the gateway, if it is known by one."""
    rs256_private_key: str | None = None
    """PEM private key of an RS256 key the gateway pins (under rs256_kid)."""
    rs256_kid: str | None = None
    stack_dir: str | None = None
    traces_url: str | None = None
    """Where spans can be read: the embedded stack's OTLP receiver, or a Jaeger query API."""
    traces_api: str = "preflight"
    """"preflight" (the embedded receiver) or "jaeger"."""
    prometheus_url: str | None = None

    def url(self, service: str) -> str:
        try:
            return self.services[service]
        except KeyError:
            known = ", ".join(sorted(self.services)) or "none"
            raise TargetError(
                f"target {self.name!r} has no {service!r} service (it has: {known})"
            ) from None

    def database(self, service: str) -> DatabaseDsns | None:
        return self.databases.get(service)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> "Target":
        data = json.loads(raw)
        return cls(
            name=data["name"],
            services=dict(data["services"]),
            headers=dict(data.get("headers", {})),
            databases={k: DatabaseDsns(**v) for k, v in data.get("databases", {}).items()},
            redis_url=data.get("redis_url"),
            allow_destructive=bool(data.get("allow_destructive", False)),
            allow_load_hosts=tuple(data.get("allow_load_hosts", ())),
            signing_key=data.get("signing_key"),
            signing_kid=data.get("signing_kid"),
            rs256_private_key=data.get("rs256_private_key"),
            rs256_kid=data.get("rs256_kid"),
            stack_dir=data.get("stack_dir"),
            traces_url=data.get("traces_url"),
            traces_api=data.get("traces_api", "preflight"),
            prometheus_url=data.get("prometheus_url"),
        )


def expand_env(value: str, environ: Mapping[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise TargetError(f"profile references ${{{name}}} but it is not set in the environment")

    return _ENV_REFERENCE.sub(substitute, value)


def _table(data: Mapping[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise TargetError(f"{path}: [{key}] must be a table")
    return value


def _strings(table: Mapping[str, Any], where: str, environ: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in table.items():
        if not isinstance(value, str):
            raise TargetError(f"{where}.{key} must be a string")
        out[key] = expand_env(value, environ)
    return out


def _check_url(url: str, what: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        raise TargetError(f"{what} is not a {'/'.join(schemes)} URL: {url!r}")
    return url.rstrip("/")


def load_profile(path: Path, environ: Mapping[str, str] | None = None) -> Target:
    env = os.environ if environ is None else environ
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise TargetError(f"profile not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise TargetError(f"{path}: not valid TOML: {exc}") from None

    meta = _table(data, "target", path)
    services = _strings(_table(data, "services", path), "services", env)
    headers = _strings(_table(data, "headers", path), "headers", env)
    databases: dict[str, DatabaseDsns] = {}
    for service, dsns in _table(data, "databases", path).items():
        if not isinstance(dsns, dict) or "primary" not in dsns:
            raise TargetError(f"{path}: [databases.{service}] needs at least primary = '...'")
        values = _strings(dsns, f"databases.{service}", env)
        databases[service] = DatabaseDsns(values["primary"], values.get("replica"))
    redis_url = _strings(_table(data, "redis", path), "redis", env).get("url")

    for service in {*services, *databases}:
        prefix = f"PREFLIGHT_{service.upper()}_"
        if prefix + "URL" in env:
            services[service] = env[prefix + "URL"]
        if prefix + "DSN" in env:
            current = databases.get(service)
            databases[service] = DatabaseDsns(
                env[prefix + "DSN"], current.replica if current else None
            )
        if prefix + "REPLICA_DSN" in env and service in databases:
            databases[service] = DatabaseDsns(
                databases[service].primary, env[prefix + "REPLICA_DSN"]
            )
    redis_url = env.get("PREFLIGHT_REDIS_URL", redis_url)
    auth = _strings(_table(data, "auth", path), "auth", env)
    signing_key = env.get("PREFLIGHT_SIGNING_KEY", auth.get("signing_key"))
    signing_kid = env.get("PREFLIGHT_SIGNING_KID", auth.get("signing_kid"))
    rs256_private_key = env.get("PREFLIGHT_RS256_PRIVATE_KEY", auth.get("rs256_private_key"))
    rs256_kid = env.get("PREFLIGHT_RS256_KID", auth.get("rs256_kid"))
    if bool(rs256_private_key) != bool(rs256_kid):
        raise TargetError(f"{path}: [auth] rs256_private_key and rs256_kid go together")

    observability = _strings(_table(data, "observability", path), "observability", env)
    jaeger_url = observability.get("jaeger_url")
    traces_url = jaeger_url or observability.get("traces_url")
    prometheus_url = observability.get("prometheus_url")

    if not services:
        raise TargetError(f"{path}: [services] lists no service URL")
    allow_hosts = meta.get("allow_load_hosts", [])
    if not isinstance(allow_hosts, list) or not all(isinstance(h, str) for h in allow_hosts):
        raise TargetError(f"{path}: target.allow_load_hosts must be a list of host names")
    return Target(
        name=str(meta.get("name", path.stem)),
        services={
            name: _check_url(url, f"services.{name}", ("http", "https"))
            for name, url in services.items()
        },
        headers=headers,
        databases={
            name: DatabaseDsns(
                _check_url(d.primary, f"databases.{name}.primary", ("postgresql", "postgres")),
                _check_url(d.replica, f"databases.{name}.replica", ("postgresql", "postgres"))
                if d.replica
                else None,
            )
            for name, d in databases.items()
        },
        redis_url=_check_url(redis_url, "redis.url", ("redis", "rediss")) if redis_url else None,
        allow_destructive=bool(meta.get("allow_destructive", False)),
        allow_load_hosts=tuple(allow_hosts),
        signing_key=signing_key,
        signing_kid=signing_kid or None,
        rs256_private_key=rs256_private_key or None,
        rs256_kid=rs256_kid or None,
        stack_dir=str(meta["stack_dir"]) if meta.get("stack_dir") else None,
        traces_url=_check_url(traces_url, "observability traces URL", ("http", "https"))
        if traces_url
        else None,
        traces_api="jaeger" if jaeger_url else "preflight",
        prometheus_url=_check_url(prometheus_url, "observability.prometheus_url", ("http", "https"))
        if prometheus_url
        else None,
    )


def write_profile(target: Target, path: Path) -> Path:
    """Write a target as a profile that load_profile reads back unchanged."""

    def quoted(value: str) -> str:
        return json.dumps(value)

    lines = [
        "[target]",
        f"name = {quoted(target.name)}",
        f"allow_destructive = {'true' if target.allow_destructive else 'false'}",
        f"allow_load_hosts = [{', '.join(quoted(h) for h in target.allow_load_hosts)}]",
        *([f"stack_dir = {quoted(target.stack_dir)}"] if target.stack_dir else []),
        "",
        "[services]",
        *(f"{name} = {quoted(url)}" for name, url in sorted(target.services.items())),
        "",
        "[headers]",
        *(f"{quoted(name)} = {quoted(value)}" for name, value in sorted(target.headers.items())),
    ]
    for name, dsns in sorted(target.databases.items()):
        lines += ["", f"[databases.{name}]", f"primary = {quoted(dsns.primary)}"]
        if dsns.replica:
            lines.append(f"replica = {quoted(dsns.replica)}")
    if target.redis_url:
        lines += ["", "[redis]", f"url = {quoted(target.redis_url)}"]
    auth = {
        "signing_key": target.signing_key,
        "signing_kid": target.signing_kid,
        "rs256_private_key": target.rs256_private_key,
        "rs256_kid": target.rs256_kid,
    }
    if any(auth.values()):
        lines += ["", "[auth]"]
        lines += [f"{name} = {quoted(value)}" for name, value in auth.items() if value]
    if target.traces_url or target.prometheus_url:
        lines += ["", "[observability]"]
        if target.traces_url:
            key = "jaeger_url" if target.traces_api == "jaeger" else "traces_url"
            lines.append(f"{key} = {quoted(target.traces_url)}")
        if target.prometheus_url:
            lines.append(f"prometheus_url = {quoted(target.prometheus_url)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def from_stack(info: "StackInfo") -> Target:
    """The embedded stack as a target: every service, both DSNs of each database, Redis."""
    databases = {
        service.name: DatabaseDsns(
            info.database_dsn(service.database), info.database_dsn(service.database, replica=True)
        )
        for service in SERVICES
        if service.database and service.migrates and service.name in info.services
    }
    return Target(
        name="embedded",
        services=dict(info.services),
        databases=databases,
        redis_url=info.redis_url,
        allow_destructive=True,
        allow_load_hosts=(),
        signing_key=info.jwt_secret or None,
        signing_kid=EMBEDDED_KID if info.jwt_secret else None,
        rs256_private_key=info.jwt_private_key or None,
        rs256_kid=info.jwt_rs256_kid or None,
        stack_dir=info.state_dir or None,
        traces_url=info.traces_url or None,
        prometheus_url=info.prometheus_url or None,
    )
