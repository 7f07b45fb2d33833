"""Where load may go: loopback always; any other host only when the target's profile lists it in
`allow_load_hosts` and the user says `--i-own-this-target`. Every address the host resolves to
must be loopback for the first case, so a name cannot smuggle load elsewhere."""

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit


class UnsafeTarget(Exception):
    """Load would go somewhere Preflight may not send it."""


def resolve(host: str) -> list[str]:
    try:
        return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})
    except OSError as error:
        raise UnsafeTarget(f"cannot resolve {host}: {error}") from None


def check_load_target(
    url: str, *, allow_hosts: Iterable[str] = (), i_own_this_target: bool = False
) -> str:
    """The URL's host if load may be sent there, else UnsafeTarget saying why."""
    host = urlsplit(url).hostname
    if not host:
        raise UnsafeTarget(f"{url!r} has no host")
    addresses = resolve(host)
    if all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        return host
    outside = ", ".join(addresses)
    if host not in set(allow_hosts):
        raise UnsafeTarget(
            f"{host} resolves outside loopback ({outside}); list it in the profile's "
            "allow_load_hosts and pass --i-own-this-target to load it"
        )
    if not i_own_this_target:
        raise UnsafeTarget(f"{host} is not loopback: pass --i-own-this-target to load it")
    return host
