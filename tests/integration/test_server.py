# The trio server as a whole: heartbeats and timeouts on a clock the test controls, the connection
# boundary, shutdown, and the process-level runner.
from __future__ import annotations

import select
import signal
import socket

import pika
import pika.exceptions
import pytest
import trio
import trio.testing
from amqp_raw_client import PROTOCOL_HEADER, RawClient
from pamqp import commands, frame, heartbeat
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from amqp_broker import BrokerConfig
from amqp_broker.broker import Broker
from amqp_broker.testing import BrokerProcess, BrokerThread, open_broker


async def test_server_heartbeats_at_half_the_interval_when_idle(
    mock_clock: trio.testing.MockClock,
) -> None:
    async with open_broker() as broker:
        client = await RawClient.connect(broker.port)
        await client.handshake(heartbeat_seconds=10)
        mock_clock.jump(5.1)
        with trio.fail_after(5):
            _, value = await client.read_frame()
        assert isinstance(value, heartbeat.Heartbeat)
        await client.aclose()


async def test_silent_peer_is_dropped_after_two_heartbeat_intervals_and_unacked_requeued(
    mock_clock: trio.testing.MockClock,
) -> None:
    async with open_broker() as broker:
        client = await RawClient.connect(broker.port)
        await client.handshake(heartbeat_seconds=2)
        await client.open_channel()
        await client.send_method(1, commands.Queue.Declare(queue="hb"))
        await client.read_method()
        await client.publish(1, "hb", b"payload")
        await client.send_method(1, commands.Basic.Get(queue="hb"))
        _, get_ok = await client.read_method()
        assert isinstance(get_ok, commands.Basic.GetOk)
        queue = broker.broker.vhosts["/"].queues["hb"]
        assert (queue.ready_count, queue.unacked_count) == (0, 1)
        for _ in range(5):  # let the clock pass 2 intervals while the client says nothing
            mock_clock.jump(1.0)
            await trio.sleep(0)
        with trio.fail_after(5):
            await client.expect_eof()
        assert (queue.ready_count, queue.unacked_count) == (1, 0)
        assert next(queue.ready_messages()).redelivered is True


async def test_client_that_sends_nothing_is_dropped_at_the_handshake_timeout(
    mock_clock: trio.testing.MockClock,
) -> None:
    async with open_broker(BrokerConfig(port=0, handshake_timeout=10.0)) as broker:
        client = await RawClient.connect(broker.port)
        await trio.testing.wait_all_tasks_blocked()
        mock_clock.jump(10.5)
        with trio.fail_after(5):
            assert await client.expect_eof() == b""


async def test_bad_protocol_header_gets_ours_back_then_close() -> None:
    async with open_broker() as broker:
        client = await RawClient.connect(broker.port)
        await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        with trio.fail_after(5):
            assert await client.expect_eof() == PROTOCOL_HEADER


async def test_amqp_1_0_header_gets_the_0_9_1_header_back() -> None:
    async with open_broker() as broker:
        client = await RawClient.connect(broker.port)
        await client.send(b"AMQP\x00\x01\x00\x00")
        with trio.fail_after(5):
            assert await client.expect_eof() == PROTOCOL_HEADER


class _BrokenQosBroker(Broker):
    """A broker with a bug in one handler, to prove the connection boundary contains it."""

    def _basic_qos(self, conn: object, channel: object, method: object) -> None:
        raise RuntimeError("bug")


def test_internal_error_closes_only_that_connection_with_541() -> None:
    thread = BrokerThread()
    thread._server.broker = _BrokenQosBroker(thread.config)
    thread.broker = thread._server.broker
    with thread:
        healthy = pika.BlockingConnection(pika.URLParameters(thread.url))
        healthy_channel = healthy.channel()
        healthy_channel.queue_declare("still-works")
        victim = pika.BlockingConnection(pika.URLParameters(thread.url))
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as info:
            victim.channel().basic_qos(prefetch_count=1)
        assert info.value.reply_code == 541
        healthy_channel.basic_publish("", "still-works", b"ok")
        _method, _properties, body = healthy_channel.basic_get("still-works")
        assert body == b"ok"
        healthy.close()


def test_wrong_password_is_refused_with_403() -> None:
    with BrokerThread() as broker:
        url = broker.url.replace("guest:guest", "guest:wrong")
        with pytest.raises(pika.exceptions.ProbableAuthenticationError) as info:
            pika.BlockingConnection(pika.URLParameters(url))
        assert "ACCESS_REFUSED" in str(info.value)


def test_unknown_vhost_is_refused_with_530() -> None:
    with BrokerThread() as broker:
        with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as info:
            pika.BlockingConnection(pika.URLParameters(broker.url_for("missing")))
        assert "(530) 'NOT_ALLOWED - vhost missing not found'" in str(info.value)


def test_broker_process_closes_clients_with_320_on_sigterm_and_exits_0() -> None:
    process = BrokerProcess().start()
    try:
        connection = pika.BlockingConnection(pika.URLParameters(process.url))
        process.send_signal(signal.SIGTERM)
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as info:
            connection.process_data_events(time_limit=10)
        assert info.value.reply_code == 320
    finally:
        code = process.stop()
    assert code == 0


def test_broker_thread_port_accepts_tcp() -> None:
    with BrokerThread() as broker, socket.create_connection(("127.0.0.1", broker.port), 5):
        pass


async def test_after_a_connection_error_the_server_waits_for_close_ok_then_closes(
    mock_clock: trio.testing.MockClock,
) -> None:
    """RabbitMQ keeps reading after its Connection.Close until the client's Close-Ok; closing
    at once would reset the socket under a client that is still writing (py-amqp then fails
    with a broken pipe instead of reporting the 540)."""
    async with open_broker() as broker:
        client = await RawClient.connect(broker.port)
        await client.handshake()
        await client.open_channel()
        await client.send(
            frame.marshal(commands.Basic.Publish(routing_key="q", immediate=True), 1)
            + frame.marshal(ContentHeader(0, 3, commands.Basic.Properties()), 1)
            + frame.marshal(ContentBody(b"now"), 1)
            + frame.marshal(commands.Queue.Declare(queue="ignored-while-closing"), 1)
        )
        _, close = await client.read_method()
        assert isinstance(close, commands.Connection.Close)
        assert close.reply_code == 540
        mock_clock.jump(1.0)  # the client takes its time (less than close_timeout)
        await trio.testing.wait_all_tasks_blocked()
        readable, _, _ = select.select([client.stream.socket.fileno()], [], [], 0)
        assert not readable, "the server closed the socket before Close-Ok"
        await client.send_method(0, commands.Connection.CloseOk())
        with trio.fail_after(5):
            assert await client.expect_eof() == b""
        assert "ignored-while-closing" not in broker.broker.vhosts["/"].queues


_CLIENT_CLOSE = commands.Connection.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0)


def _publish_frames(channel: int, count: int) -> bytes:
    body = b"x" * 1024
    one = (
        frame.marshal(commands.Basic.Publish(routing_key="nowhere"), channel)
        + frame.marshal(ContentHeader(0, len(body), commands.Basic.Properties()), channel)
        + frame.marshal(ContentBody(body), channel)
    )
    return one * count


async def test_after_close_ok_the_server_reads_until_the_client_hangs_up(
    mock_clock: trio.testing.MockClock,
) -> None:
    """amqplib's Connection.Close can overtake publishes still queued on its other channels.
    RabbitMQ answers Close-Ok and drops what follows until the client closes the socket;
    closing at once with those bytes unread made our kernel reset the connection, and the
    client lost the Close-Ok and failed its pending writes (EPIPE)."""
    async with open_broker() as broker:
        client = await RawClient.connect(broker.port)
        await client.handshake()
        await client.open_channel()
        await client.send(frame.marshal(_CLIENT_CLOSE, 0) + _publish_frames(1, 200))
        with trio.fail_after(5):
            _, close_ok = await client.read_method()
        assert isinstance(close_ok, commands.Connection.CloseOk)
        assert broker.broker.connections == {}  # released at Close, not when the socket goes
        mock_clock.jump(1.0)
        await trio.testing.wait_all_tasks_blocked()
        readable, _, _ = select.select([client.stream.socket.fileno()], [], [], 0)
        assert not readable, "the server closed the socket before the client did"
        await client.send(_publish_frames(1, 200))
        await client.stream.send_eof()
        with trio.fail_after(5):
            assert await client.expect_eof() == b""


async def test_after_close_ok_a_client_that_never_hangs_up_is_dropped(
    mock_clock: trio.testing.MockClock,
) -> None:
    async with open_broker() as broker:
        client = await RawClient.connect(broker.port)
        await client.handshake()
        await client.send_method(0, _CLIENT_CLOSE)
        with trio.fail_after(5):
            _, close_ok = await client.read_method()
        assert isinstance(close_ok, commands.Connection.CloseOk)
        mock_clock.jump(broker.server.config.close_timeout + 0.1)
        with trio.fail_after(5):
            assert await client.expect_eof() == b""
