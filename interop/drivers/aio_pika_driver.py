# aio-pika: the asyncio client most asyncio users pick (robust connection, queue iterators,
# message.process()).
from __future__ import annotations

import asyncio

import aio_pika
import aio_pika.exceptions
from aio_pika.abc import AbstractChannel, AbstractQueue

from interop.harness import (
    HEARTBEAT,
    IDLE_SECONDS,
    LARGE_BODY,
    ROUTING_CASES,
    Context,
    Driver,
    check,
)

driver = Driver("aio-pika")


async def _queue(ctx: Context, channel: AbstractChannel) -> AbstractQueue:
    return await channel.declare_queue(ctx.name(), auto_delete=False)


async def _ready(channel: AbstractChannel, name: str) -> int:
    declared = await (await channel.get_underlay_channel()).queue_declare(name, passive=True)
    return int(declared.message_count or 0)


async def _take(queue: AbstractQueue, count: int) -> list[aio_pika.abc.AbstractIncomingMessage]:
    taken = []
    async with queue.iterator() as messages:
        async for message in messages:
            taken.append(message)
            if len(taken) == count:
                break
    return taken


@driver.scenario
async def connect(ctx: Context) -> None:
    connection = await aio_pika.connect_robust(ctx.url)
    channel = await connection.channel()
    check(not channel.is_closed, "channel closed")
    await connection.close()
    check(connection.is_closed, "connection not closed")


@driver.scenario
async def declare_bind(ctx: Context) -> None:
    async with await aio_pika.connect_robust(ctx.url) as connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(ctx.name("x"), aio_pika.ExchangeType.DIRECT)
        queue = await _queue(ctx, channel)
        await queue.bind(exchange, routing_key="k")
        await exchange.publish(aio_pika.Message(b"routed"), routing_key="k")
        await exchange.publish(aio_pika.Message(b"dropped"), routing_key="other")
        got = await queue.get(no_ack=True)
        check(got is not None and got.body == b"routed", "bound key not routed")
        check(await queue.get(no_ack=True, fail=False) is None, "unbound key routed")
        await queue.unbind(exchange, routing_key="k")
        await exchange.publish(aio_pika.Message(b"late"), routing_key="k")
        check(await queue.get(no_ack=True, fail=False) is None, "routed after unbind")
        await queue.delete(if_unused=False, if_empty=False)
        await exchange.delete()


@driver.scenario
async def publish_consume(ctx: Context) -> None:
    async with await aio_pika.connect_robust(ctx.url) as connection:
        channel = await connection.channel()
        queue = await _queue(ctx, channel)
        for i in range(10):
            sent = aio_pika.Message(f"m{i}".encode(), headers={"i": i}, content_type="text/plain")
            await channel.default_exchange.publish(sent, routing_key=queue.name)
        received = []
        async with queue.iterator() as messages:
            async for message in messages:
                async with message.process():
                    received.append((message.body, message.headers["i"], message.content_type))
                if len(received) == 10:
                    break
        expected = [(f"m{i}".encode(), i, "text/plain") for i in range(10)]
        check(received == expected, f"got {received}")
        await queue.delete(if_unused=False, if_empty=False)


@driver.scenario
async def basic_get(ctx: Context) -> None:
    async with await aio_pika.connect_robust(ctx.url) as connection:
        channel = await connection.channel()
        queue = await _queue(ctx, channel)
        check(await queue.get(fail=False) is None, "get-empty expected")
        for body in (b"a", b"b"):
            await channel.default_exchange.publish(aio_pika.Message(body), routing_key=queue.name)
        message = await queue.get()
        check(message is not None and message.body == b"a", "first message expected")
        assert message is not None
        await message.ack()
        ctx.observe(f"message_count={message.message_count} redelivered={message.redelivered}")
        await queue.delete(if_unused=False, if_empty=False)


@driver.scenario
async def confirms(ctx: Context) -> None:
    async with await aio_pika.connect_robust(ctx.url) as connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        queue = await _queue(ctx, channel)
        acks = await asyncio.gather(
            *(
                channel.default_exchange.publish(aio_pika.Message(b"%d" % i), queue.name)
                for i in range(20)
            )
        )
        check(all(type(a).__name__ == "Ack" for a in acks), f"not all acked: {acks}")
        try:
            await channel.default_exchange.publish(aio_pika.Message(b"x"), ctx.name("nowhere"))
            raise AssertionError("unroutable mandatory publish was not returned")
        except aio_pika.exceptions.DeliveryError as exc:
            ctx.observe(f"returned {type(exc).__name__}")
        check(await _ready(channel, queue.name) == 20, "count")
        await queue.delete(if_unused=False, if_empty=False)


@driver.scenario
async def qos_prefetch(ctx: Context) -> None:
    async with await aio_pika.connect_robust(ctx.url) as connection:
        channel = await connection.channel()
        queue = await _queue(ctx, channel)
        for i in range(5):
            await channel.default_exchange.publish(aio_pika.Message(b"%d" % i), queue.name)
        await channel.set_qos(prefetch_count=2)
        delivered: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage] = asyncio.Queue()
        await queue.consume(delivered.put)
        first = [await delivered.get(), await delivered.get()]
        ready = await _ready(channel, queue.name)
        check(delivered.empty() and ready == 3, f"ready {ready}")
        await first[0].ack()
        await delivered.get()
        ready = await _ready(channel, queue.name)
        check(ready == 2, f"after ack: ready {ready}")
        await queue.delete(if_unused=False, if_empty=False)


@driver.scenario
async def nack_requeue(ctx: Context) -> None:
    async with await aio_pika.connect_robust(ctx.url) as connection:
        channel = await connection.channel()
        queue = await _queue(ctx, channel)
        await channel.default_exchange.publish(aio_pika.Message(b"m"), queue.name)
        message = await queue.get()
        check(message is not None and not message.redelivered, "fresh message redelivered")
        assert message is not None
        await message.nack(requeue=True)
        message = await queue.get()
        check(message is not None and message.redelivered, "nacked message not redelivered")
        assert message is not None
        await message.reject(requeue=True)
        message = await queue.get()
        check(message is not None and message.redelivered, "rejected message not redelivered")
        assert message is not None
        await message.reject(requeue=False)
        check(await queue.get(fail=False) is None, "rejected without requeue came back")
        await queue.delete(if_unused=False, if_empty=False)


@driver.scenario
async def recover(ctx: Context) -> None:
    async with await aio_pika.connect_robust(ctx.url) as connection:
        channel = await connection.channel()
        queue = await _queue(ctx, channel)
        await channel.default_exchange.publish(aio_pika.Message(b"m"), queue.name)
        delivered: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage] = asyncio.Queue()
        await queue.consume(delivered.put)
        first = await delivered.get()
        underlay = await channel.get_underlay_channel()
        await underlay.basic_recover(requeue=True)
        second = await delivered.get()
        flags = [first.redelivered, second.redelivered]
        check(flags == [False, True], f"redelivered flags {flags}")
        await queue.delete(if_unused=False, if_empty=False)


@driver.scenario
async def exchange_types(ctx: Context) -> None:
    async with await aio_pika.connect_robust(ctx.url) as connection:
        channel = await connection.channel()
        queue = await _queue(ctx, channel)
        for i, (kind, binding, arguments, key, headers, routed) in enumerate(ROUTING_CASES):
            exchange = await channel.declare_exchange(
                ctx.name(f"{kind}{i}"), kind, auto_delete=True
            )
            await queue.bind(exchange, routing_key=binding, arguments=arguments)
            await exchange.publish(aio_pika.Message(b"m", headers=headers), routing_key=key)
            got = await queue.get(no_ack=True, fail=False) is not None
            check(got == routed, f"{kind} {binding} {arguments} {key!r}: routed={got}")
        await queue.delete(if_unused=False, if_empty=False)


@driver.scenario
async def large_message(ctx: Context) -> None:
    async with await aio_pika.connect_robust(ctx.url) as connection:
        channel = await connection.channel()
        queue = await _queue(ctx, channel)
        await channel.default_exchange.publish(aio_pika.Message(LARGE_BODY), queue.name)
        [message] = await _take(queue, 1)
        check(message.body == LARGE_BODY, f"body of {len(message.body)} bytes differs")
        await message.ack()
        await queue.delete(if_unused=False, if_empty=False)


@driver.scenario
async def heartbeat_idle(ctx: Context) -> None:
    separator = "&" if "?" in ctx.url else "?"
    url = f"{ctx.url}{separator}heartbeat={HEARTBEAT}"
    async with await aio_pika.connect_robust(url) as connection:
        channel = await connection.channel()
        queue = await _queue(ctx, channel)
        await asyncio.sleep(IDLE_SECONDS)
        await channel.default_exchange.publish(aio_pika.Message(b"still here"), queue.name)
        message = await queue.get(no_ack=True)
        check(message is not None and message.body == b"still here", "unusable after idling")
        await queue.delete(if_unused=False, if_empty=False)


@driver.scenario
async def reconnect(ctx: Context) -> None:
    connection = await aio_pika.connect_robust(ctx.url)
    channel = await connection.channel()
    queue = await _queue(ctx, channel)
    await channel.default_exchange.publish(aio_pika.Message(b"m"), queue.name)
    await queue.get()  # left unacked: closing requeues it
    await connection.close()
    async with await aio_pika.connect_robust(ctx.url) as connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue.name, passive=True)
        message = await queue.get(no_ack=True)
        check(message is not None and message.redelivered, "unacked message not requeued")
        await queue.delete(if_unused=False, if_empty=False)


@driver.scenario
async def error_404(ctx: Context) -> None:
    async with await aio_pika.connect_robust(ctx.url) as connection:
        channel = await connection.channel()
        try:
            await channel.declare_queue(ctx.name("missing"), passive=True)
            raise AssertionError("passive declare of a missing queue succeeded")
        except aio_pika.exceptions.ChannelNotFoundEntity as exc:
            ctx.observe(f"{type(exc).__name__} {exc.args}")
        channel = await connection.channel()
        try:
            await channel.get_exchange(ctx.name("nox"))
            raise AssertionError("passive declare of a missing exchange succeeded")
        except aio_pika.exceptions.ChannelNotFoundEntity as exc:
            ctx.observe(f"{type(exc).__name__} {exc.args}")


@driver.scenario
async def error_406(ctx: Context) -> None:
    async with await aio_pika.connect_robust(ctx.url) as connection:
        channel = await connection.channel()
        queue = await _queue(ctx, channel)
        try:
            await channel.declare_queue(queue.name, durable=True)
            raise AssertionError("inequivalent redeclare succeeded")
        except aio_pika.exceptions.ChannelPreconditionFailed as exc:
            ctx.observe(f"{type(exc).__name__} {exc.args}")
        channel = await connection.channel()
        await channel.queue_delete(queue.name)


if __name__ == "__main__":
    driver.main()
