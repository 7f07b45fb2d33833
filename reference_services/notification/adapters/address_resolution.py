"""Resolving a callback URL's host and checking it against the callback-URL policy."""

import asyncio
import socket

from reference_services.notification.domain import callback_urls
from reference_services.notification.domain.callback_urls import Address, Allowlist, RefusedUrl


async def resolve(host: str) -> list[Address]:
    literal = callback_urls.literal_address(host)
    if literal is not None:
        return [literal]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return []
    found: list[Address] = []
    for info in infos:
        address = callback_urls.literal_address(str(info[4][0]).split("%")[0])
        if address is not None and address not in found:
            found.append(address)
    return found


async def check_url(url: str, allowlist: Allowlist) -> None:
    """Raise RefusedUrl unless the URL is well-formed and its host resolves only to addresses
    webhooks may reach."""
    host = callback_urls.host_of(url)
    callback_urls.check(url, await resolve(host), allowlist)


__all__ = ["RefusedUrl", "check_url", "resolve"]
