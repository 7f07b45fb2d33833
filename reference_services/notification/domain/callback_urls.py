"""Which callback URLs a webhook may be sent to (a guard against server-side request forgery).

A URL must be http(s), without credentials, and every address its host resolves to must be a
public one: loopback, private (RFC 1918, unique local), link-local (which holds the clouds'
metadata endpoints, 169.254.169.254), carrier-grade NAT, multicast, reserved and unspecified
addresses are refused, also when written as IPv4-mapped IPv6, unless the allowlist admits them:
a host name admits that name whatever it resolves to, a network (CIDR) every address in it
whatever the name, and a bare address only URLs that name that address literally (so
"127.0.0.1" admits http://127.0.0.1:8080/ but not http://localhost:8080/, nor any other name
that resolves to it). Pure: resolving the host is the caller's job, and is done again before
each delivery so a name that later resolves elsewhere is caught then.
"""

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class RefusedUrl(ValueError):
    """The URL is malformed or points somewhere webhooks may not go."""


@dataclass(frozen=True)
class Allowlist:
    networks: tuple[Network, ...] = ()
    hosts: frozenset[str] = frozenset()
    literals: frozenset[Address] = frozenset()

    @classmethod
    def parse(cls, text: str) -> "Allowlist":
        """From "10.1.0.0/16, 127.0.0.1, ::1, hooks.internal": networks, addresses a URL names
        literally, and exact host names."""
        networks: list[Network] = []
        hosts: set[str] = set()
        literals: set[Address] = set()
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            if "/" in item:
                try:
                    networks.append(ipaddress.ip_network(item, strict=False))
                except ValueError:
                    raise ValueError(f"not a network: {item!r}") from None
            elif (address := literal_address(item.strip("[]"))) is not None:
                literals.add(address)
            else:
                hosts.add(item.lower().rstrip("."))
        return cls(tuple(networks), frozenset(hosts), frozenset(literals))

    def admits(self, host: str, address: Address) -> bool:
        return (
            host in self.hosts
            or literal_address(host) in self.literals
            or any(address in network for network in self.networks)
        )


def parse(url: str) -> SplitResult:
    """The URL's parts, or RefusedUrl if it is not an absolute http(s) URL without credentials."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError as error:
        raise RefusedUrl(f"not a valid URL: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise RefusedUrl("only http and https callback URLs are allowed")
    if not parts.hostname:
        raise RefusedUrl("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise RefusedUrl("credentials in the URL are not allowed")
    return parts


def host_of(url: str) -> str:
    host = parse(url).hostname
    assert host is not None
    return host.lower().rstrip(".")


def literal_address(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check(url: str, addresses: Sequence[Address], allowlist: Allowlist) -> None:
    """Raise RefusedUrl unless every address the URL's host resolved to may be called."""
    host = host_of(url)
    if not addresses:
        raise RefusedUrl(f"{host} does not resolve")
    for address in addresses:
        if not allowlist.admits(host, address) and (reason := _non_public(address)):
            raise RefusedUrl(f"{host} resolves to {address}, {reason}, which is not allowlisted")


def _non_public(address: Address) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _non_public(address.ipv4_mapped)
    for reason, flagged in _CATEGORIES:
        if flagged(address):
            return reason
    return None if address.is_global else "not a public address"


_CATEGORIES: tuple[tuple[str, Callable[[Address], bool]], ...] = (
    ("a loopback address", lambda a: a.is_loopback),
    ("a link-local address (cloud metadata lives here)", lambda a: a.is_link_local),
    ("an unspecified address", lambda a: a.is_unspecified),
    ("a multicast address", lambda a: a.is_multicast),
    ("a private address", lambda a: a.is_private),
    ("a reserved address", lambda a: a.is_reserved),
)
