# The test controls from trio code (open_broker): waits woken by broker changes, fault injection
# seen on the wire by a raw client, and restart on the same port.
from __future__ import annotations

import trio
import trio.testing
from amqp_raw_client import RawClient
from pamqp import commands, heartbeat

from amqp_broker.controls import WaitTimeoutError
from amqp_broker.testing import RunningBroker, open_broker


async def _client_with_queue(broker: RunningBroker, queue: str) -> RawClient:
    client = await RawClient.connect(broker.port)
    await client.handshake()
    await client.open_channel()
    await client.send_method(1, commands.Queue.Declare(queue=queue))
    _, declare_ok = await client.read_method()
    assert isinstance(declare_ok, commands.Queue.DeclareOk)
    return client


async def test_wait_for_returns_when_the_broker_applies_the_publish() -> None:
    async with open_broker() as broker:
        client = await _client_with_queue(broker, "q")
        await client.publish(1, "q", b"one")
        await client.publish(1, "q", b"two")
        with trio.fail_after(5):
            info = await broker.wait_for(lambda: broker.queue("q").messages_ready == 2)
        assert info is True
        assert [m.body for m in broker.peek("q")] == [b"one", b"two"]
        await client.aclose()


async def test_wait_for_times_out_in_virtual_time_naming_the_condition(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_broker() as broker:
        start = trio.current_time()
        try:
            await broker.wait_for(broker.consumer_on("nobody"), timeout=30)
        except WaitTimeoutError as error:
            assert str(error) == (
                "timed out after 30 s waiting for 1 consumer(s) on queue 'nobody' in vhost '/'"
            )
        else:
            raise AssertionError("wait_for returned for a condition that never held")
        assert trio.current_time() - start >= 30


async def test_close_connection_sends_320_connection_forced() -> None:
    async with open_broker() as broker:
        client = await _client_with_queue(broker, "q")
        [conn] = broker.connections()
        broker.close_connection(conn, "maintenance")
        with trio.fail_after(5):
            _, close = await client.read_method()
        assert isinstance(close, commands.Connection.Close)
        assert (close.reply_code, close.reply_text) == (320, "CONNECTION_FORCED - maintenance")
        await client.aclose()


async def test_drop_connection_resets_tcp_without_a_close_and_requeues_unacked() -> None:
    async with open_broker() as broker:
        client = await _client_with_queue(broker, "q")
        broker.publish_to_queue("q", b"held")
        await client.send_method(1, commands.Basic.Get(queue="q"))
        await client.read_method()
        await client.read_frame()  # content header
        await client.read_frame()  # body
        broker.drop_connection(broker.connections()[0].number)
        with trio.fail_after(5):
            try:
                await client.expect_eof()
            except trio.BrokenResourceError as error:
                assert isinstance(error.__cause__, ConnectionResetError)
            else:
                raise AssertionError("the connection ended with a FIN, not a reset")
            await broker.wait_for(broker.queue_has("q", ready=1))
        assert broker.peek("q")[0].redelivered is True
        await client.aclose()


async def test_frozen_connection_gets_no_heartbeats_until_thawed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_broker() as broker:
        client = await RawClient.connect(broker.port)
        await client.handshake(heartbeat_seconds=10)
        [conn] = broker.connections()
        broker.freeze_connection(conn)
        with trio.move_on_after(8) as silent:  # a heartbeat is due after 5 s
            await client.read_frame()
        assert silent.cancelled_caught
        broker.thaw_connection(conn)
        with trio.fail_after(5):
            _, value = await client.read_frame()
        assert isinstance(value, heartbeat.Heartbeat)
        await client.aclose()


async def test_frozen_connection_holds_input_until_thawed_and_outlives_heartbeats(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_broker() as broker:
        client = await RawClient.connect(broker.port)
        await client.handshake(heartbeat_seconds=2)
        await client.open_channel()
        [conn] = broker.connections()
        broker.freeze_connection(conn)
        await client.send_method(1, commands.Queue.Declare(queue="held"))
        await trio.sleep(10)  # five heartbeat intervals: a hung broker drops nobody
        assert broker.queues() == [] and len(broker.connections()) == 1
        broker.thaw_connection(conn)
        with trio.fail_after(5):
            _, declare_ok = await client.read_method()
        assert isinstance(declare_ok, commands.Queue.DeclareOk)
        await client.aclose()


async def test_client_closing_a_frozen_connection_is_noticed() -> None:
    async with open_broker() as broker:
        client = await RawClient.connect(broker.port)
        await client.handshake()
        broker.freeze_connection(broker.connections()[0])
        await client.aclose()
        with trio.fail_after(5):
            await broker.wait_for(lambda: broker.connections() == [])


async def test_block_publishers_sends_connection_blocked_and_unblocked() -> None:
    async with open_broker() as broker:
        client = await RawClient.connect(broker.port)
        await client.send(b"AMQP\x00\x00\x09\x01")
        await client.read_method()
        await client.send_method(
            0,
            commands.Connection.StartOk(
                client_properties={"capabilities": {"connection.blocked": True}},
                mechanism="PLAIN",
                response="\0guest\0guest",
            ),
        )
        _, tune = await client.read_method()
        await client.send_method(
            0, commands.Connection.TuneOk(channel_max=10, frame_max=tune.frame_max, heartbeat=0)
        )
        await client.send_method(0, commands.Connection.Open(virtual_host="/"))
        await client.read_method()
        await client.open_channel()
        await client.publish(1, "nowhere", b"x")  # a publisher: the alarm applies to it
        await broker.wait_for(lambda: broker.connections()[0].channels == 1)
        await broker.wait_for(lambda: broker.broker.connections[1].publisher)
        broker.block_publishers()
        with trio.fail_after(5):
            _, blocked = await client.read_method()
        assert isinstance(blocked, commands.Connection.Blocked)
        assert broker.connections()[0].blocked
        broker.unblock_publishers()
        with trio.fail_after(5):
            _, unblocked = await client.read_method()
        assert isinstance(unblocked, commands.Connection.Unblocked)
        await client.aclose()


async def test_restart_keeps_the_port_and_loses_in_memory_definitions() -> None:
    async with open_broker() as broker:
        client = await _client_with_queue(broker, "transient")
        port = broker.port
        await broker.restart()
        with trio.fail_after(5):
            _, close = await client.read_method()
        assert isinstance(close, commands.Connection.Close) and close.reply_code == 320
        await client.aclose()
        assert broker.port == port
        assert broker.queues() == []  # in memory: definitions are gone with the old broker
        again = await _client_with_queue(broker, "after")
        assert [q.name for q in broker.queues()] == ["after"]
        await again.aclose()
