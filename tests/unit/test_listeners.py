# amqp_broker.listeners: the sockets the CLI binds before trio loads, made as trio makes them.
from __future__ import annotations

import socket

import pytest

from amqp_broker.listeners import bind_tcp, bound_address


def test_bound_socket_accepts_before_anyone_calls_accept() -> None:
    (listener,) = bind_tcp("127.0.0.1", 0)
    with listener:
        address = bound_address(listener)
        assert address.host == "127.0.0.1" and address.port > 0
        assert address.url == f"amqp://guest:guest@127.0.0.1:{address.port}/"
        # the kernel completes the handshake from the backlog: the client is connected at once
        with socket.create_connection(("127.0.0.1", address.port), timeout=5) as client:
            client.sendall(b"AMQP\x00\x00\x09\x01")
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.recv(8) == b"AMQP\x00\x00\x09\x01"


def test_listener_options_match_trio_open_tcp_listeners() -> None:
    (listener,) = bind_tcp("127.0.0.1", 0)
    with listener:
        assert listener.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1
        assert listener.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
        assert not listener.get_inheritable()


def test_ipv6_listener_is_ipv6_only() -> None:
    try:
        (listener,) = bind_tcp("::1", 0)
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    with listener:
        assert listener.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
        assert bound_address(listener).url.startswith("amqp://guest:guest@[::1]:")


def test_port_in_use_raises_and_leaves_the_port_to_its_owner() -> None:
    (owner,) = bind_tcp("127.0.0.1", 0)
    with owner:
        port = bound_address(owner).port
        with pytest.raises(OSError):
            bind_tcp("127.0.0.1", port)
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass


def test_unresolvable_host_raises_oserror() -> None:
    with pytest.raises(OSError):
        bind_tcp("no-such-host.invalid", 0)
