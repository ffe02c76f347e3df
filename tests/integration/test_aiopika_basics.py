# aio-pika (asyncio) against the broker thread. These are plain sync tests that run their own
# event loop with asyncio.run(): pytest's trio mode must not claim asyncio code.
from __future__ import annotations

import asyncio

import aio_pika
import aio_pika.abc
import aiormq
import aiormq.exceptions
import pytest


def _run(coroutine: object) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(coroutine, timeout=5)  # type: ignore[arg-type]

    asyncio.run(bounded())


async def _counts(connection: aio_pika.abc.AbstractConnection, queue: str) -> tuple[int, int]:
    """Ready messages and consumers, from a fresh channel: a robust channel caches queue objects
    by name, so a second declare on the same channel returns the first DeclareOk."""
    channel = await connection.channel()
    try:
        declared = await channel.declare_queue(queue, passive=True)
        result = declared.declaration_result
        return result.message_count or 0, result.consumer_count or 0
    finally:
        await channel.close()


def test_robust_connection_declare_publish_consume_ack(amqp_url: str) -> None:
    async def scenario() -> None:
        connection = await aio_pika.connect_robust(amqp_url)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.declare_exchange("aio-direct", aio_pika.ExchangeType.DIRECT)
            queue = await channel.declare_queue("aio-work")
            await queue.bind(exchange, routing_key="job")
            for n in range(5):
                await exchange.publish(
                    aio_pika.Message(str(n).encode(), headers={"n": n}), routing_key="job"
                )
            received = []
            async with queue.iterator() as messages:
                async for message in messages:
                    async with message.process():
                        received.append((message.body, message.headers["n"], message.redelivered))
                    if len(received) == 5:
                        break
            assert received == [(str(n).encode(), n, False) for n in range(5)]
            assert await _counts(connection, "aio-work") == (0, 0)

    _run(scenario())


def test_get_ack_and_reject_requeue(amqp_url: str) -> None:
    async def scenario() -> None:
        connection = await aio_pika.connect_robust(amqp_url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue("aio-get")
            await channel.default_exchange.publish(aio_pika.Message(b"one"), "aio-get")
            await channel.default_exchange.publish(aio_pika.Message(b"two"), "aio-get")
            first = await queue.get(timeout=2)
            assert first.body == b"one"
            await first.reject(requeue=True)
            again = await queue.get(timeout=2)
            assert (again.body, again.redelivered) == (b"one", True)
            await again.ack()
            second = await queue.get(timeout=2)
            assert (second.body, second.redelivered) == (b"two", False)
            await second.ack()
            assert await queue.get(fail=False) is None

    _run(scenario())


def test_publisher_confirms_number_publishes_from_1(amqp_url: str) -> None:
    async def scenario() -> None:
        connection = await aio_pika.connect_robust(amqp_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            await channel.declare_queue("aio-confirmed")
            confirmations = await asyncio.gather(
                *(
                    channel.default_exchange.publish(
                        aio_pika.Message(str(n).encode()), "aio-confirmed"
                    )
                    for n in range(25)
                )
            )
            # RabbitMQ (and this broker) may confirm several publishes with one multiple ack.
            assert all(isinstance(c, aiormq.spec.Basic.Ack) for c in confirmations)
            assert max(confirmation.delivery_tag for confirmation in confirmations) == 25
            assert await _counts(connection, "aio-confirmed") == (25, 0)

    _run(scenario())


def test_mandatory_unroutable_publish_is_returned(amqp_url: str) -> None:
    async def scenario() -> None:
        connection = await aio_pika.connect_robust(amqp_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            with pytest.raises(aio_pika.exceptions.DeliveryError) as info:
                await channel.default_exchange.publish(
                    aio_pika.Message(b"lost"), "no-such-queue", mandatory=True
                )
            assert info.value.frame is not None
            assert info.value.frame.reply_code == 312

    _run(scenario())


def test_passive_declare_of_missing_queue_raises_404(amqp_url: str) -> None:
    async def scenario() -> None:
        connection = await aio_pika.connect_robust(amqp_url)
        async with connection:
            channel = await connection.channel()
            with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity) as info:
                await channel.declare_queue("aio-missing", passive=True)
            assert info.value.args[0].startswith("NOT_FOUND - no queue 'aio-missing'")

    _run(scenario())


def test_consumer_sees_prefetch_and_unacked_requeue_on_close(amqp_url: str) -> None:
    async def scenario() -> None:
        connection = await aio_pika.connect_robust(amqp_url)
        async with connection:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=1)
            queue = await channel.declare_queue("aio-prefetch")
            for n in range(3):
                await channel.default_exchange.publish(
                    aio_pika.Message(str(n).encode()), "aio-prefetch"
                )
            delivered: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage] = asyncio.Queue()
            await queue.consume(delivered.put)
            held = await delivered.get()
            assert held.body == b"0"
            assert await _counts(connection, "aio-prefetch") == (2, 1)
            assert delivered.empty()
            await channel.close()
            assert await _counts(connection, "aio-prefetch") == (3, 0)
            observer = await connection.channel()
            requeued = await (await observer.get_queue("aio-prefetch")).get(timeout=2)
            assert (requeued.body, requeued.redelivered) == (b"0", True)
            await requeued.ack()

    _run(scenario())
