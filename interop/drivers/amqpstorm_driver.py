# AMQPStorm: a thread-safe client with its own IO thread; channels expose queue/exchange/basic
# namespaces and consumers run through start_consuming / process_data_events.
from __future__ import annotations

import time
from typing import Any

import amqpstorm
from amqpstorm import Channel, Message, UriConnection

from interop.harness import (
    HEARTBEAT,
    IDLE_SECONDS,
    LARGE_BODY,
    ROUTING_CASES,
    Context,
    Driver,
    check,
)

driver = Driver("amqpstorm")


def _connect(ctx: Context, heartbeat: int | None = None) -> UriConnection:
    url = ctx.url
    if heartbeat is not None:
        url += f"{'&' if '?' in url else '?'}heartbeat={heartbeat}"
    return UriConnection(url)


def _queue(ctx: Context, channel: Channel) -> str:
    return str(channel.queue.declare(ctx.name())["queue"])


def _get(channel: Channel, queue: str, no_ack: bool = False) -> Message | None:
    message = channel.basic.get(queue, no_ack=no_ack)
    assert message is None or isinstance(message, Message)
    return message


def _take(channel: Channel, queue: str, no_ack: bool = False) -> Message:
    message = _get(channel, queue, no_ack)
    check(message is not None, f"no message in {queue}")
    assert message is not None
    return message


def _ready(channel: Channel, queue: str) -> int:
    return int(channel.queue.declare(queue, passive=True)["message_count"])


def _consume_until(channel: Channel, done: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        check(time.monotonic() < deadline, "timed out waiting for deliveries")
        channel.process_data_events(auto_decode=False)
        time.sleep(0.01)


@driver.scenario
def connect(ctx: Context) -> None:
    connection = _connect(ctx)
    check(connection.is_open, "connection not open")
    channel = connection.channel()
    check(channel.is_open, "channel not open")
    connection.close()
    check(connection.is_closed, "connection not closed")


@driver.scenario
def declare_bind(ctx: Context) -> None:
    with _connect(ctx) as connection, connection.channel() as channel:
        exchange = ctx.name("x")
        channel.exchange.declare(exchange, exchange_type="direct")
        queue = _queue(ctx, channel)
        channel.queue.bind(queue, exchange, routing_key="k")
        channel.basic.publish(b"routed", "k", exchange=exchange)
        channel.basic.publish(b"dropped", "other", exchange=exchange)
        got = _get(channel, queue, no_ack=True)
        check(got is not None and got.body == "routed", "bound key not routed")
        check(_get(channel, queue, no_ack=True) is None, "unbound key routed")
        channel.queue.unbind(queue, exchange, routing_key="k")
        channel.basic.publish(b"late", "k", exchange=exchange)
        check(_get(channel, queue, no_ack=True) is None, "routed after unbind")
        channel.queue.delete(queue)
        channel.exchange.delete(exchange)


@driver.scenario
def publish_consume(ctx: Context) -> None:
    with _connect(ctx) as connection, connection.channel() as channel:
        queue = _queue(ctx, channel)
        for i in range(10):
            message = Message.create(channel, f"m{i}", {"headers": {"i": i}})
            message.publish(queue)
        received: list[tuple[Any, Any]] = []

        def on_message(message: Message) -> None:
            received.append((message.body, message.properties["headers"]["i"]))
            message.ack()
            if len(received) == 10:
                channel.stop_consuming()

        channel.basic.consume(on_message, queue)
        channel.start_consuming()
        check(received == [(f"m{i}", i) for i in range(10)], f"got {received}")
        channel.queue.delete(queue)


@driver.scenario
def basic_get(ctx: Context) -> None:
    with _connect(ctx) as connection, connection.channel() as channel:
        queue = _queue(ctx, channel)
        check(_get(channel, queue) is None, "get-empty expected")
        for body in ("a", "b"):
            channel.basic.publish(body, queue)
        message = _take(channel, queue)
        check(message.body == "a", "first message expected")
        message.ack()
        method = message.method or {}
        ctx.observe(f"message_count={method.get('message_count')} {message.redelivered}")
        channel.queue.delete(queue)


@driver.scenario
def confirms(ctx: Context) -> None:
    with _connect(ctx) as connection, connection.channel() as channel:
        channel.confirm_deliveries()
        queue = _queue(ctx, channel)
        acked = [channel.basic.publish(str(i), queue) for i in range(20)]
        check(all(acked), f"not all confirmed: {acked}")
        try:
            channel.basic.publish("x", ctx.name("nowhere"), mandatory=True)
            channel.check_for_errors()
            raise AssertionError("unroutable mandatory publish was not returned")
        except amqpstorm.AMQPMessageError as exc:
            ctx.observe(f"{type(exc).__name__} {exc.error_code}")
        check(_ready(channel, queue) == 20, "count")
        channel.queue.delete(queue)


@driver.scenario
def qos_prefetch(ctx: Context) -> None:
    with _connect(ctx) as connection, connection.channel() as channel:
        queue = _queue(ctx, channel)
        for i in range(5):
            channel.basic.publish(str(i), queue)
        channel.basic.qos(prefetch_count=2)
        delivered: list[Message] = []
        channel.basic.consume(delivered.append, queue)
        _consume_until(channel, lambda: len(delivered) == 2)
        ready = _ready(channel, queue)
        check(ready == 3 and len(delivered) == 2, f"delivered {len(delivered)}, ready {ready}")
        delivered[0].ack()
        _consume_until(channel, lambda: len(delivered) == 3)
        ready = _ready(channel, queue)
        check(ready == 2, f"after ack: ready {ready}")
        channel.queue.delete(queue)


@driver.scenario
def nack_requeue(ctx: Context) -> None:
    with _connect(ctx) as connection, connection.channel() as channel:
        queue = _queue(ctx, channel)
        channel.basic.publish("m", queue)
        message = _take(channel, queue)
        check(not message.redelivered, "fresh message redelivered")
        message.nack(requeue=True)
        message = _take(channel, queue)
        check(message.redelivered, "nacked message not redelivered")
        message.reject(requeue=True)
        message = _take(channel, queue)
        check(message.redelivered, "rejected message not redelivered")
        message.reject(requeue=False)
        check(_get(channel, queue) is None, "rejected without requeue came back")
        channel.queue.delete(queue)


@driver.scenario
def recover(ctx: Context) -> None:
    with _connect(ctx) as connection, connection.channel() as channel:
        queue = _queue(ctx, channel)
        channel.basic.publish("m", queue)
        seen: list[bool] = []
        channel.basic.consume(lambda m: seen.append(m.redelivered), queue)
        _consume_until(channel, lambda: len(seen) == 1)
        channel.basic.recover(requeue=True)
        _consume_until(channel, lambda: len(seen) == 2)
        check(seen == [False, True], f"redelivered flags {seen}")
        channel.queue.delete(queue)


@driver.scenario
def exchange_types(ctx: Context) -> None:
    with _connect(ctx) as connection, connection.channel() as channel:
        queue = _queue(ctx, channel)
        for i, (kind, binding, arguments, key, headers, routed) in enumerate(ROUTING_CASES):
            exchange = ctx.name(f"{kind}{i}")
            channel.exchange.declare(exchange, exchange_type=kind, auto_delete=True)
            channel.queue.bind(queue, exchange, routing_key=binding, arguments=arguments)
            properties = {"headers": headers} if headers else None
            channel.basic.publish("m", key, exchange=exchange, properties=properties)
            got = _get(channel, queue, no_ack=True) is not None
            check(got == routed, f"{kind} {binding} {arguments} {key!r}: routed={got}")
        channel.queue.delete(queue)


@driver.scenario
def large_message(ctx: Context) -> None:
    with _connect(ctx) as connection, connection.channel() as channel:
        queue = _queue(ctx, channel)
        channel.basic.publish(LARGE_BODY, queue)
        bodies: list[bytes] = []
        channel.basic.consume(lambda m: bodies.append(m.body), queue, no_ack=True)
        _consume_until(channel, lambda: bool(bodies))
        check(bodies == [LARGE_BODY], f"body of {len(bodies[0])} bytes differs")
        channel.queue.delete(queue)


@driver.scenario
def heartbeat_idle(ctx: Context) -> None:
    with _connect(ctx, heartbeat=HEARTBEAT) as connection, connection.channel() as channel:
        queue = _queue(ctx, channel)
        time.sleep(IDLE_SECONDS)  # AMQPStorm's own threads answer heartbeats
        channel.basic.publish("still here", queue)
        message = _take(channel, queue, no_ack=True)
        check(message.body == "still here", "unusable after idling")
        channel.queue.delete(queue)


@driver.scenario
def reconnect(ctx: Context) -> None:
    connection = _connect(ctx)
    channel = connection.channel()
    queue = _queue(ctx, channel)
    channel.basic.publish("m", queue)
    check(_get(channel, queue) is not None, "no message")  # unacked: closing requeues it
    connection.close()
    with _connect(ctx) as again, again.channel() as channel:
        message = _take(channel, queue, no_ack=True)
        check(message.redelivered, "unacked message not requeued")
        channel.queue.delete(queue)


@driver.scenario
def error_404(ctx: Context) -> None:
    with _connect(ctx) as connection:
        try:
            connection.channel().queue.declare(ctx.name("missing"), passive=True)
            raise AssertionError("passive declare of a missing queue succeeded")
        except amqpstorm.AMQPChannelError as exc:
            check(exc.error_code == 404, f"code {exc.error_code}")
            ctx.observe(f"{type(exc).__name__} {exc.error_code} {exc}")
        try:
            channel = connection.channel()
            channel.basic.publish("m", "k", exchange=ctx.name("nox"))
            channel.queue.declare("", exclusive=True)
            raise AssertionError("publish to a missing exchange went unnoticed")
        except amqpstorm.AMQPChannelError as exc:
            ctx.observe(f"{type(exc).__name__} {exc.error_code} {exc}")


@driver.scenario
def error_406(ctx: Context) -> None:
    with _connect(ctx) as connection:
        queue = _queue(ctx, connection.channel())
        try:
            connection.channel().queue.declare(queue, durable=True)
            raise AssertionError("inequivalent redeclare succeeded")
        except amqpstorm.AMQPChannelError as exc:
            check(exc.error_code == 406, f"code {exc.error_code}")
            ctx.observe(f"{type(exc).__name__} {exc.error_code} {exc}")
        connection.channel().queue.delete(queue)


if __name__ == "__main__":
    driver.main()
