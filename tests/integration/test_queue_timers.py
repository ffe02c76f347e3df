# The broker-wide queue timer on a clock the test controls: message TTL and x-expires fire at
# their deadline and not before, and a nearer deadline wakes the sleeping timer.
from __future__ import annotations

from typing import Any

import trio
import trio.testing
from amqp_raw_client import RawClient
from pamqp import commands

from amqp_broker.core.queue import Queue
from amqp_broker.testing import RunningBroker, open_broker


async def _client(broker: RunningBroker) -> RawClient:
    client = await RawClient.connect(broker.port)
    await client.handshake()
    await client.open_channel()
    return client


async def _call(client: RawClient, method: Any) -> Any:
    """Send a method and return the reply: the broker has applied everything before it."""
    await client.send_method(1, method)
    with trio.fail_after(5):
        _, reply = await client.read_method()
    return reply


def _queue(broker: RunningBroker, name: str) -> Queue | None:
    return broker.broker.vhosts["/"].queues.get(name)


async def _advance(clock: trio.testing.MockClock, seconds: float) -> None:
    clock.jump(seconds)
    await trio.testing.wait_all_tasks_blocked()


async def test_queue_ttl_fires_at_the_deadline_and_dead_letters(
    mock_clock: trio.testing.MockClock,
) -> None:
    async with open_broker() as broker:
        client = await _client(broker)
        await _call(client, commands.Queue.Declare(queue="dead"))
        args = {
            "x-message-ttl": 5000,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": "dead",
        }
        await _call(client, commands.Queue.Declare(queue="ttl", arguments=args))
        await client.publish(1, "ttl", b"payload")
        await _call(client, commands.Queue.Declare(queue="ttl", arguments=args))
        ttl, dead = _queue(broker, "ttl"), _queue(broker, "dead")
        assert ttl is not None and dead is not None
        await _advance(mock_clock, 4.9)
        assert (ttl.ready_count, dead.ready_count) == (1, 0)
        await _advance(mock_clock, 0.2)
        assert (ttl.ready_count, dead.ready_count) == (0, 1)
        await client.aclose()


async def test_nearer_deadline_wakes_the_timer(mock_clock: trio.testing.MockClock) -> None:
    async with open_broker() as broker:
        client = await _client(broker)
        for name, ttl in (("slow", 60000), ("fast", 1000)):
            await _call(
                client, commands.Queue.Declare(queue=name, arguments={"x-message-ttl": ttl})
            )
            await client.publish(1, name, b"x")
        await _call(client, commands.Queue.Declare(queue="fast", passive=True))
        await _advance(mock_clock, 1.01)
        slow, fast = _queue(broker, "slow"), _queue(broker, "fast")
        assert slow is not None and fast is not None
        assert (slow.ready_count, fast.ready_count) == (1, 0)
        await client.aclose()


async def test_x_expires_counts_from_the_last_use(mock_clock: trio.testing.MockClock) -> None:
    async with open_broker() as broker:
        client = await _client(broker)
        await _call(client, commands.Queue.Declare(queue="idle", arguments={"x-expires": 10000}))
        await _advance(mock_clock, 9.9)
        assert _queue(broker, "idle") is not None
        reply = await _call(client, commands.Basic.Get(queue="idle"))  # a use: starts again
        assert isinstance(reply, commands.Basic.GetEmpty)
        await _advance(mock_clock, 9.9)
        assert _queue(broker, "idle") is not None
        await _advance(mock_clock, 0.2)
        assert _queue(broker, "idle") is None
        await client.aclose()


async def test_a_consumer_keeps_an_expiring_queue(mock_clock: trio.testing.MockClock) -> None:
    async with open_broker() as broker:
        client = await _client(broker)
        await _call(client, commands.Queue.Declare(queue="kept", arguments={"x-expires": 1000}))
        await _call(client, commands.Basic.Consume(queue="kept", consumer_tag="c"))
        await _advance(mock_clock, 100.0)
        assert _queue(broker, "kept") is not None
        await _call(client, commands.Basic.Cancel(consumer_tag="c"))
        await _advance(mock_clock, 0.9)
        assert _queue(broker, "kept") is not None
        await _advance(mock_clock, 0.2)
        assert _queue(broker, "kept") is None
        await client.aclose()


async def test_per_message_ttl_waits_for_a_longer_lived_head(
    mock_clock: trio.testing.MockClock,
) -> None:
    async with open_broker() as broker:
        client = await _client(broker)
        await _call(client, commands.Queue.Declare(queue="q"))
        for expiration in ("60000", "1000"):
            await client.publish(1, "q", b"x", commands.Basic.Properties(expiration=expiration))
        await _call(client, commands.Queue.Declare(queue="q", passive=True))
        await _advance(mock_clock, 30.0)
        queue = _queue(broker, "q")
        assert queue is not None and queue.ready_count == 2
        await _advance(mock_clock, 30.1)
        assert queue.ready_count == 0
        await client.aclose()


async def test_deleting_the_vhost_leaves_no_timer_behind(
    mock_clock: trio.testing.MockClock,
) -> None:
    async with open_broker() as broker:
        client = await _client(broker)
        await _call(client, commands.Queue.Declare(queue="idle", arguments={"x-expires": 1000}))
        await _call(client, commands.Queue.Declare(queue="ttl", arguments={"x-message-ttl": 500}))
        await client.publish(1, "ttl", b"x")
        await _call(client, commands.Queue.Declare(queue="ttl", passive=True))
        assert broker.broker.next_deadline() is not None
        broker.broker.delete_vhost("/")
        await _advance(mock_clock, 2.0)
        assert broker.broker.next_deadline() is None
        await client.aclose()
