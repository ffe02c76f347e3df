# One read can hold thousands of publishes. The server applies them in slices of SLICE events
# and lets every other task run in between, so a consumer's acks and deliveries keep flowing
# while a fast publisher is being read (RabbitMQ runs them in separate processes).
from __future__ import annotations

import trio
from amqp_raw_client import RawClient
from pamqp import commands, frame
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from amqp_broker.server import SLICE
from amqp_broker.testing import open_broker


def _publish(routing_key: str, body: bytes) -> bytes:
    return (
        frame.marshal(commands.Basic.Publish(routing_key=routing_key), 1)
        + frame.marshal(ContentHeader(0, len(body), commands.Basic.Properties()), 1)
        + frame.marshal(ContentBody(body), 1)
    )


async def test_a_large_input_is_applied_in_slices_with_other_tasks_between() -> None:
    async with open_broker() as broker:
        client = await RawClient.connect(broker.port)
        await client.handshake()
        await client.open_channel()
        await client.send_method(1, commands.Queue.Declare(queue="q"))
        await client.read_method()
        queue = broker.broker.vhosts["/"].queues["q"]
        # 16 slices: trio runs a batch's tasks in either order, so the watcher may see only
        # every other slice (with 8, it saw 5 in about one run of three)
        count = 16 * SLICE
        seen: set[int] = set()
        done = trio.Event()

        async def watch() -> None:
            while not done.is_set():
                seen.add(queue.publish_count)
                await trio.sleep(0)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            await client.send(_publish("q", b"x") * count)  # one write: a read or two in the broker
            await client.send_method(1, commands.Queue.Declare(queue="q", passive=True))
            with trio.fail_after(10):
                _, reply = await client.read_method()
            done.set()
        assert reply.message_count == count
        between = sorted(number for number in seen if 0 < number < count)
        assert len(between) >= 6, between  # the watcher ran between the slices
        await client.aclose()
