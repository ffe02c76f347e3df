# Cookbook (docs/testing.md): testing asyncio code that uses aio-pika. The test functions are
# plain (sync) tests that run their scenario with asyncio.run, and wait with wait_for_async so
# the event loop, and the client in it, keeps running while they wait.
from __future__ import annotations

import asyncio

import aio_pika

from amqp_broker.testing import BrokerThread

# ---- the application code under test ----------------------------------------------------------


async def start_resizer(connection: aio_pika.abc.AbstractRobustConnection) -> None:
    """Consume 'resize' requests and publish a 'resized' event for each."""
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=10)
    events = await channel.declare_exchange("events", aio_pika.ExchangeType.TOPIC)
    requests = await channel.declare_queue("resize", durable=True)

    async def handle(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            size = int(message.headers.get("size", 100))  # type: ignore[arg-type]
            await events.publish(
                aio_pika.Message(message.body, headers={"size": size // 2}),
                routing_key="image.resized",
            )

    await requests.consume(handle)


# ---- the tests --------------------------------------------------------------------------------


def test_resizer_publishes_an_event_per_request(
    amqp_broker: BrokerThread, amqp_vhost: str, amqp_url: str
) -> None:
    async def scenario() -> None:
        async with await aio_pika.connect_robust(amqp_url) as connection:
            await start_resizer(connection)
            amqp_broker.record_publishes("events", vhost=amqp_vhost)
            await amqp_broker.wait_for_async(amqp_broker.consumer_on("resize", vhost=amqp_vhost))

            amqp_broker.publish_to_queue(
                "resize", b"cat.png", properties={"headers": {"size": 640}}, vhost=amqp_vhost
            )

            await amqp_broker.wait_for_async(amqp_broker.acked("resize", vhost=amqp_vhost))
            [event] = amqp_broker.published("events", vhost=amqp_vhost)
            assert (event.routing_key, event.body, event.headers) == (
                "image.resized",
                b"cat.png",
                {"size": 320},
            )

    asyncio.run(scenario())


def test_resizer_recovers_after_the_connection_is_dropped(
    amqp_broker: BrokerThread, amqp_vhost: str, amqp_url: str
) -> None:
    async def scenario() -> None:
        url = f"{amqp_url}?reconnect_interval=0.1"
        async with await aio_pika.connect_robust(url) as connection:
            await start_resizer(connection)
            await amqp_broker.wait_for_async(amqp_broker.consumer_on("resize", vhost=amqp_vhost))
            [before] = amqp_broker.connections(vhost=amqp_vhost)

            amqp_broker.drop_connection(before)  # a TCP reset, no AMQP close

            await amqp_broker.wait_for_async(
                lambda: (
                    [c.connection for c in amqp_broker.consumers(amqp_vhost)]
                    not in ([], [before.number])
                ),
                what="the resizer to reconnect and consume again",
            )
            amqp_broker.publish_to_queue("resize", b"dog.png", vhost=amqp_vhost)
            await amqp_broker.wait_for_async(amqp_broker.acked("resize", vhost=amqp_vhost))

    asyncio.run(scenario())
