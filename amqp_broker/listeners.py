# Listening TCP sockets made with the standard library alone, and the address a listener reports.
#
# `amqp-broker` binds its AMQP port with this before it imports trio and the broker (~0.1 s of
# imports): a client connecting meanwhile waits in the kernel's listen backlog and is answered
# as soon as the broker has loaded, instead of being refused. The sockets are made as
# trio.open_tcp_listeners makes them (one per address the host resolves to, SO_REUSEADDR, IPv6
# sockets IPv6-only, the largest backlog), so a broker listens the same whichever opened them.
from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

BACKLOG = 0xFFFF  # trio's default: the kernel caps it at net.core.somaxconn


@dataclass(frozen=True, slots=True)
class BoundAddress:
    host: str
    port: int
    scheme: str = "amqp"  # "amqps" for the TLS listener

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://guest:guest@{host}:{self.port}/"


def bind_tcp(host: str | None, port: int) -> list[socket.socket]:
    """Listening sockets on every address `host` resolves to (port 0: a free port each).

    Raises OSError when an address cannot be resolved or bound; no socket is left open then.
    """
    addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    unsupported: OSError | None = None
    try:
        for family, kind, proto, _, address in addresses:
            try:
                sock = socket.socket(family, kind, proto)
            except OSError as exc:
                if exc.errno != errno.EAFNOSUPPORT:
                    raise
                unsupported = exc  # e.g. IPv6 disabled: the other families may do
                continue
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    if not sockets:
        raise unsupported or OSError(errno.EADDRNOTAVAIL, f"{host!r} has no address")
    return sockets


def bound_address(sock: socket.socket) -> BoundAddress:
    """Where a listening socket accepts connections."""
    name = sock.getsockname()
    return BoundAddress(str(name[0]), int(name[1]))
