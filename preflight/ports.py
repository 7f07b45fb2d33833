"""Free TCP ports on the loopback interface."""

from __future__ import annotations

import socket
from contextlib import ExitStack

LOOPBACK = "127.0.0.1"


def free_ports(count: int, *, host: str = LOOPBACK) -> list[int]:
    """Return `count` distinct ports that are free on `host` right now.

    All sockets stay bound until every port is chosen, so the ports differ from each other;
    another process may still take one before the caller binds it.
    """
    with ExitStack() as sockets:
        ports = []
        for _ in range(count):
            sock = sockets.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def free_port(*, host: str = LOOPBACK) -> int:
    return free_ports(1, host=host)[0]


def is_listening(port: int, *, host: str = LOOPBACK, timeout: float = 0.2) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
