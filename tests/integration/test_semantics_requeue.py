# Unacked deliveries go back to their queue, redelivered=true and in their original order, whenever
# the channel holding them goes away: channel.close, connection.close, or a TCP connection dropped
# without any AMQP close at all.
from __future__ import annotations

import socket
import struct
import time

import amqp
import pika
from amqp_clients import amqp_connect, connect
from pika.adapters.blocking_connection import BlockingChannel


def _take_all(channel: BlockingChannel, queue: str) -> list[tuple[bytes, bool]]:
    taken: list[tuple[bytes, bool]] = []
    while True:
        method, _properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return taken
        taken.append((body, method.redelivered))


def _hold_unacked(url: str, queue: str) -> tuple[pika.BlockingConnection, BlockingChannel]:
    """Publish a..e; a and b are taken by basic.get, c and d by a consumer; e stays ready."""
    connection = connect(url)
    channel = connection.channel()
    channel.queue_declare(queue)
    for body in (b"a", b"b", b"c", b"d", b"e"):
        channel.basic_publish("", queue, body)
    for expected in (b"a", b"b"):
        method, _properties, body = channel.basic_get(queue)
        assert method is not None
        assert body == expected
    channel.basic_qos(prefetch_count=2)
    consumed: list[bytes] = []
    channel.basic_consume(queue, lambda ch, method, props, body: consumed.append(body))
    deadline = time.monotonic() + 3
    while len(consumed) < 2:
        assert time.monotonic() < deadline
        connection.process_data_events(time_limit=0.05)
    assert consumed == [b"c", b"d"]
    return connection, channel


_EXPECTED = [(b"a", True), (b"b", True), (b"c", True), (b"d", True), (b"e", False)]


def test_unacked_are_requeued_in_order_when_channel_closes(amqp_url: str) -> None:
    connection, channel = _hold_unacked(amqp_url, "on-channel-close")
    with connection:
        channel.close()
        assert _take_all(connection.channel(), "on-channel-close") == _EXPECTED


def test_unacked_are_requeued_in_order_when_connection_closes(amqp_url: str) -> None:
    connection, _channel = _hold_unacked(amqp_url, "on-connection-close")
    connection.close()
    with connect(amqp_url) as other:
        assert _take_all(other.channel(), "on-connection-close") == _EXPECTED


def test_unacked_are_requeued_when_the_channel_is_closed_by_an_error(amqp_url: str) -> None:
    connection, channel = _hold_unacked(amqp_url, "on-channel-error")
    with connection:
        channel.basic_ack(12345)
        checker = connection.channel()
        deadline = time.monotonic() + 3
        while channel.is_open:
            assert time.monotonic() < deadline
            connection.process_data_events(time_limit=0.05)
        assert _take_all(checker, "on-channel-error") == _EXPECTED


def _wait_ready(url: str, queue: str, count: int) -> BlockingChannel:
    connection = connect(url)
    channel = connection.channel()
    deadline = time.monotonic() + 3
    while channel.queue_declare(queue, passive=True).method.message_count != count:
        assert time.monotonic() < deadline, "the broker did not notice the dropped connection"
    return channel


def test_unacked_are_requeued_when_tcp_connection_is_reset(amqp_url: str) -> None:
    dropped = amqp_connect(amqp_url)
    channel = dropped.channel()
    channel.queue_declare("on-reset", auto_delete=False)
    for body in (b"a", b"b", b"c", b"d"):
        channel.basic_publish(amqp.Message(body), routing_key="on-reset")
    assert channel.basic_get("on-reset").body == b"a"
    consumed: list[bytes] = []
    channel.basic_qos(0, 2, False)
    channel.basic_consume("on-reset", callback=lambda message: consumed.append(message.body))
    while len(consumed) < 2:
        dropped.drain_events(timeout=2)
    assert consumed == [b"b", b"c"]
    # SO_LINGER 0 makes close() send RST: no AMQP close, no FIN handshake.
    sock = dropped.sock
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    checker = _wait_ready(amqp_url, "on-reset", 4)
    assert _take_all(checker, "on-reset") == [
        (b"a", True),
        (b"b", True),
        (b"c", True),
        (b"d", False),
    ]
    assert checker.queue_declare("on-reset", passive=True).method.consumer_count == 0
    checker.connection.close()


def test_unacked_are_requeued_when_peer_half_closes_without_amqp_close(amqp_url: str) -> None:
    dropped = amqp_connect(amqp_url)
    channel = dropped.channel()
    channel.queue_declare("on-eof", auto_delete=False)
    channel.basic_publish(amqp.Message(b"only"), routing_key="on-eof")
    assert channel.basic_get("on-eof").body == b"only"
    dropped.sock.shutdown(socket.SHUT_RDWR)
    checker = _wait_ready(amqp_url, "on-eof", 1)
    assert _take_all(checker, "on-eof") == [(b"only", True)]
    checker.connection.close()
    dropped.sock.close()
