# aiormq: the low-level asyncio client under aio-pika; one coroutine per AMQP method.
from __future__ import annotations

import asyncio
from typing import Any

import aiormq
import aiormq.exceptions
from aiormq.abc import AbstractChannel, DeliveredMessage
from pamqp.commands import Basic

from interop.harness import (
    HEARTBEAT,
    IDLE_SECONDS,
    LARGE_BODY,
    ROUTING_CASES,
    Context,
    Driver,
    check,
)

driver = Driver("aiormq")


async def _queue(ctx: Context, channel: AbstractChannel) -> str:
    declared = await channel.queue_declare(ctx.name())
    assert declared is not None
    return str(declared.queue)


async def _get(
    channel: AbstractChannel, queue: str, no_ack: bool = True
) -> DeliveredMessage | None:
    message = await channel.basic_get(queue, no_ack=no_ack)
    return None if isinstance(message.delivery, Basic.GetEmpty) else message


async def _ready(channel: AbstractChannel, queue: str) -> int:
    declared = await channel.queue_declare(queue, passive=True)
    assert declared is not None
    return int(declared.message_count or 0)


@driver.scenario
async def connect(ctx: Context) -> None:
    connection = await aiormq.connect(ctx.url)
    channel = await connection.channel()
    check(not channel.is_closed, "channel closed")
    await connection.close()
    check(connection.is_closed, "connection not closed")


@driver.scenario
async def declare_bind(ctx: Context) -> None:
    connection = await aiormq.connect(ctx.url)
    channel = await connection.channel()
    exchange = ctx.name("x")
    await channel.exchange_declare(exchange, exchange_type="direct")
    queue = await _queue(ctx, channel)
    await channel.queue_bind(queue, exchange, routing_key="k")
    await channel.basic_publish(b"routed", exchange=exchange, routing_key="k")
    await channel.basic_publish(b"dropped", exchange=exchange, routing_key="other")
    got = await _get(channel, queue)
    check(got is not None and got.body == b"routed", "bound key not routed")
    check(await _get(channel, queue) is None, "unbound key routed")
    await channel.queue_unbind(queue, exchange, routing_key="k")
    await channel.basic_publish(b"late", exchange=exchange, routing_key="k")
    check(await _get(channel, queue) is None, "routed after unbind")
    await channel.queue_delete(queue)
    await channel.exchange_delete(exchange)
    await connection.close()


@driver.scenario
async def publish_consume(ctx: Context) -> None:
    connection = await aiormq.connect(ctx.url)
    channel = await connection.channel()
    queue = await _queue(ctx, channel)
    for i in range(10):
        props = Basic.Properties(content_type="text/plain", headers={"i": i})
        await channel.basic_publish(f"m{i}".encode(), routing_key=queue, properties=props)
    received: list[tuple[bytes, Any]] = []
    done = asyncio.Event()

    async def on_message(message: DeliveredMessage) -> None:
        assert message.header.properties.headers is not None
        received.append((message.body, message.header.properties.headers["i"]))
        await message.channel.basic_ack(message.delivery_tag or 0)
        if len(received) == 10:
            done.set()

    await channel.basic_consume(queue, on_message)
    await done.wait()
    check(received == [(f"m{i}".encode(), i) for i in range(10)], f"got {received}")
    await connection.close()


@driver.scenario
async def basic_get(ctx: Context) -> None:
    connection = await aiormq.connect(ctx.url)
    channel = await connection.channel()
    queue = await _queue(ctx, channel)
    check(await _get(channel, queue) is None, "get-empty expected")
    for body in (b"a", b"b"):
        await channel.basic_publish(body, routing_key=queue)
    message = await _get(channel, queue, no_ack=False)
    check(message is not None and message.body == b"a", "first message expected")
    assert message is not None
    await channel.basic_ack(message.delivery_tag or 0)
    assert isinstance(message.delivery, Basic.GetOk)
    ok = message.delivery
    ctx.observe(f"message_count={ok.message_count} redelivered={ok.redelivered}")
    await channel.queue_delete(queue)
    await connection.close()


@driver.scenario
async def confirms(ctx: Context) -> None:
    connection = await aiormq.connect(ctx.url)
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    queue = await _queue(ctx, channel)
    acks = await asyncio.gather(
        *(channel.basic_publish(b"%d" % i, routing_key=queue) for i in range(20))
    )
    check(all(isinstance(a, Basic.Ack) for a in acks), f"not all acked: {acks}")
    try:
        await channel.basic_publish(b"x", routing_key=ctx.name("nowhere"), mandatory=True)
        raise AssertionError("unroutable mandatory publish was not returned")
    except aiormq.exceptions.PublishError as exc:
        ctx.observe(f"returned {type(exc).__name__}")
    check(await _ready(channel, queue) == 20, "count")
    await channel.queue_delete(queue)
    await connection.close()


@driver.scenario
async def qos_prefetch(ctx: Context) -> None:
    connection = await aiormq.connect(ctx.url)
    channel = await connection.channel()
    queue = await _queue(ctx, channel)
    for i in range(5):
        await channel.basic_publish(b"%d" % i, routing_key=queue)
    await channel.basic_qos(prefetch_count=2)
    delivered: asyncio.Queue[DeliveredMessage] = asyncio.Queue()
    await channel.basic_consume(queue, delivered.put)
    first = [await delivered.get(), await delivered.get()]
    ready = await _ready(channel, queue)
    check(delivered.empty() and ready == 3, f"ready {ready}")
    await channel.basic_ack(first[0].delivery_tag or 0)
    await delivered.get()
    ready = await _ready(channel, queue)
    check(ready == 2, f"after ack: ready {ready}")
    await channel.queue_delete(queue)
    await connection.close()


@driver.scenario
async def nack_requeue(ctx: Context) -> None:
    connection = await aiormq.connect(ctx.url)
    channel = await connection.channel()
    queue = await _queue(ctx, channel)
    await channel.basic_publish(b"m", routing_key=queue)
    message = await _get(channel, queue, no_ack=False)
    assert message is not None
    check(not message.redelivered, "fresh message redelivered")
    await channel.basic_nack(message.delivery_tag or 0, requeue=True)
    message = await _get(channel, queue, no_ack=False)
    assert message is not None
    check(message.redelivered, "nacked message not redelivered")
    await channel.basic_reject(message.delivery_tag or 0, requeue=True)
    message = await _get(channel, queue, no_ack=False)
    assert message is not None
    check(message.redelivered, "rejected message not redelivered")
    await channel.basic_reject(message.delivery_tag or 0, requeue=False)
    check(await _get(channel, queue) is None, "rejected without requeue came back")
    await channel.queue_delete(queue)
    await connection.close()


@driver.scenario
async def recover(ctx: Context) -> None:
    connection = await aiormq.connect(ctx.url)
    channel = await connection.channel()
    queue = await _queue(ctx, channel)
    await channel.basic_publish(b"m", routing_key=queue)
    delivered: asyncio.Queue[DeliveredMessage] = asyncio.Queue()
    await channel.basic_consume(queue, delivered.put)
    first = await delivered.get()
    await channel.basic_recover(requeue=True)
    second = await delivered.get()
    flags = [first.redelivered, second.redelivered]
    check(flags == [False, True], f"redelivered flags {flags}")
    await channel.queue_delete(queue)
    await connection.close()


@driver.scenario
async def exchange_types(ctx: Context) -> None:
    connection = await aiormq.connect(ctx.url)
    channel = await connection.channel()
    queue = await _queue(ctx, channel)
    for i, (kind, binding, arguments, key, headers, routed) in enumerate(ROUTING_CASES):
        exchange = ctx.name(f"{kind}{i}")
        await channel.exchange_declare(exchange, exchange_type=kind, auto_delete=True)
        await channel.queue_bind(queue, exchange, routing_key=binding, arguments=arguments)
        props = Basic.Properties(headers=headers)
        await channel.basic_publish(b"m", exchange=exchange, routing_key=key, properties=props)
        got = await _get(channel, queue) is not None
        check(got == routed, f"{kind} {binding} {arguments} {key!r}: routed={got}")
    await channel.queue_delete(queue)
    await connection.close()


@driver.scenario
async def large_message(ctx: Context) -> None:
    connection = await aiormq.connect(ctx.url)
    channel = await connection.channel()
    queue = await _queue(ctx, channel)
    await channel.basic_publish(LARGE_BODY, routing_key=queue)
    delivered: asyncio.Queue[DeliveredMessage] = asyncio.Queue()
    await channel.basic_consume(queue, delivered.put, no_ack=True)
    message = await delivered.get()
    check(message.body == LARGE_BODY, f"body of {len(message.body)} bytes differs")
    await channel.queue_delete(queue)
    await connection.close()


@driver.scenario
async def heartbeat_idle(ctx: Context) -> None:
    separator = "&" if "?" in ctx.url else "?"
    connection = await aiormq.connect(f"{ctx.url}{separator}heartbeat={HEARTBEAT}")
    channel = await connection.channel()
    queue = await _queue(ctx, channel)
    await asyncio.sleep(IDLE_SECONDS)
    await channel.basic_publish(b"still here", routing_key=queue)
    message = await _get(channel, queue)
    check(message is not None and message.body == b"still here", "unusable after idling")
    await channel.queue_delete(queue)
    await connection.close()


@driver.scenario
async def reconnect(ctx: Context) -> None:
    connection = await aiormq.connect(ctx.url)
    channel = await connection.channel()
    queue = await _queue(ctx, channel)
    await channel.basic_publish(b"m", routing_key=queue)
    await _get(channel, queue, no_ack=False)  # left unacked: closing requeues it
    await connection.close()
    connection = await aiormq.connect(ctx.url)
    channel = await connection.channel()
    message = await _get(channel, queue)
    check(message is not None and message.redelivered, "unacked message not requeued")
    await channel.queue_delete(queue)
    await connection.close()


@driver.scenario
async def error_404(ctx: Context) -> None:
    connection = await aiormq.connect(ctx.url)
    channel = await connection.channel()
    try:
        await channel.queue_declare(ctx.name("missing"), passive=True)
        raise AssertionError("passive declare of a missing queue succeeded")
    except aiormq.exceptions.ChannelNotFoundEntity as exc:
        ctx.observe(f"{type(exc).__name__} {exc}")
    channel = await connection.channel()
    try:
        await channel.basic_get(ctx.name("missing"))
        raise AssertionError("basic.get from a missing queue succeeded")
    except aiormq.exceptions.ChannelNotFoundEntity as exc:
        ctx.observe(f"{type(exc).__name__} {exc}")
    await connection.close()


@driver.scenario
async def error_406(ctx: Context) -> None:
    connection = await aiormq.connect(ctx.url)
    channel = await connection.channel()
    queue = await _queue(ctx, channel)
    try:
        await channel.queue_declare(queue, durable=True)
        raise AssertionError("inequivalent redeclare succeeded")
    except aiormq.exceptions.ChannelPreconditionFailed as exc:
        ctx.observe(f"{type(exc).__name__} {exc}")
    channel = await connection.channel()
    try:
        await channel.basic_ack(999)
        await channel.queue_declare(queue, passive=True)
        raise AssertionError("ack of an unknown delivery tag went unnoticed")
    except aiormq.exceptions.ChannelPreconditionFailed as exc:
        ctx.observe(f"{type(exc).__name__} {exc}")
    channel = await connection.channel()
    await channel.queue_delete(queue)
    await connection.close()


if __name__ == "__main__":
    driver.main()
