# rabbitpy: a thread-safe client built on objects (Connection, Channel, Queue, Exchange, Message)
# whose consumers are generators (`for message in queue.consume()`).
from __future__ import annotations

import time
from typing import Any

import rabbitpy
import rabbitpy.exceptions

from interop.harness import (
    HEARTBEAT,
    IDLE_SECONDS,
    LARGE_BODY,
    ROUTING_CASES,
    Context,
    Driver,
    check,
)

driver = Driver("rabbitpy")

_EXCHANGE_CLASSES: dict[str, type] = {
    "direct": rabbitpy.DirectExchange,
    "fanout": rabbitpy.FanoutExchange,
    "topic": rabbitpy.TopicExchange,
    "headers": rabbitpy.HeadersExchange,
}


def _connect(ctx: Context, heartbeat: int | None = None) -> rabbitpy.Connection:
    url = ctx.url
    if heartbeat is not None:
        url += f"{'&' if '?' in url else '?'}heartbeat={heartbeat}"
    return rabbitpy.Connection(url)


def _queue(ctx: Context, channel: rabbitpy.Channel) -> rabbitpy.Queue:
    queue = rabbitpy.Queue(channel, ctx.name())
    queue.declare()
    return queue


def _take(queue: rabbitpy.Queue, acknowledge: bool = True) -> rabbitpy.Message:
    message = queue.get(acknowledge=acknowledge)
    check(message is not None, f"no message in {queue.name}")
    assert message is not None
    return message


def _ready(channel: rabbitpy.Channel, name: str) -> int:
    return int(rabbitpy.Queue(channel, name).declare(passive=True)[0])


def _publish(channel: rabbitpy.Channel, body: Any, queue: str, **properties: Any) -> None:
    rabbitpy.Message(channel, body, properties or None).publish("", queue)


def _closed_by(exc: rabbitpy.exceptions.AMQPException) -> str:
    """rabbitpy raises with the broker's Channel.Close frame as its argument."""
    close = exc.args[0]
    return f"{type(exc).__name__} {close.reply_code} {close.reply_text}"


@driver.scenario
def connect(ctx: Context) -> None:
    connection = _connect(ctx)
    channel = connection.channel()
    check(channel.state == channel.OPEN, "channel not open")
    connection.close()
    check(connection.closed, "connection not closed")


@driver.scenario
def declare_bind(ctx: Context) -> None:
    with _connect(ctx) as connection, connection.channel() as channel:
        exchange = rabbitpy.DirectExchange(channel, ctx.name("x"))
        exchange.declare()
        queue = _queue(ctx, channel)
        queue.bind(exchange, routing_key="k")
        rabbitpy.Message(channel, b"routed").publish(exchange, "k")
        rabbitpy.Message(channel, b"dropped").publish(exchange, "other")
        got = queue.get(acknowledge=False)
        check(got is not None and got.body == b"routed", "bound key not routed")
        check(queue.get(acknowledge=False) is None, "unbound key routed")
        queue.unbind(exchange, routing_key="k")
        rabbitpy.Message(channel, b"late").publish(exchange, "k")
        check(queue.get(acknowledge=False) is None, "routed after unbind")
        queue.delete()
        exchange.delete()


@driver.scenario
def publish_consume(ctx: Context) -> None:
    with _connect(ctx) as connection, connection.channel() as channel:
        queue = _queue(ctx, channel)
        for i in range(10):
            _publish(channel, f"m{i}".encode(), queue.name, headers={"i": i})
        received: list[tuple[bytes, Any]] = []
        for message in queue.consume():
            received.append((message.body, message.properties["headers"]["i"]))
            message.ack()
            if len(received) == 10:
                queue.stop_consuming()
        check(received == [(f"m{i}".encode(), i) for i in range(10)], f"got {received}")
        queue.delete()


@driver.scenario
def basic_get(ctx: Context) -> None:
    with _connect(ctx) as connection, connection.channel() as channel:
        queue = _queue(ctx, channel)
        check(queue.get() is None, "get-empty expected")
        for body in (b"a", b"b"):
            _publish(channel, body, queue.name)
        message = _take(queue)
        check(message.body == b"a", "first message expected")
        message.ack()
        ctx.observe(f"len(queue)={len(queue)} redelivered={message.redelivered}")
        queue.delete()


@driver.scenario
def confirms(ctx: Context) -> None:
    with _connect(ctx) as connection, connection.channel() as channel:
        channel.enable_publisher_confirms()
        queue = _queue(ctx, channel)
        acked = [rabbitpy.Message(channel, b"%d" % i).publish("", queue.name) for i in range(20)]
        check(all(acked), f"not all confirmed: {acked}")
        try:
            rabbitpy.Message(channel, b"x").publish("", ctx.name("nowhere"), mandatory=True)
            queue.declare(passive=True)  # a round trip: the return is raised on the next call
            raise AssertionError("unroutable mandatory publish was not returned")
        except rabbitpy.exceptions.MessageReturnedException as exc:
            ctx.observe(f"{type(exc).__name__} {exc.args[1:]}")
        check(_ready(channel, queue.name) == 20, "count")
        queue.delete()


@driver.scenario
def qos_prefetch(ctx: Context) -> None:
    with _connect(ctx) as connection, connection.channel() as channel:
        queue = _queue(ctx, channel)
        for i in range(5):
            _publish(channel, b"%d" % i, queue.name)
        held: list[rabbitpy.Message] = []
        with connection.channel() as observer:
            for message in queue.consume(prefetch=2):
                held.append(message)
                if len(held) == 2:
                    deadline = time.monotonic() + 5
                    while _ready(observer, queue.name) != 3 and time.monotonic() < deadline:
                        time.sleep(0.05)
                    ready = _ready(observer, queue.name)
                    check(ready == 3, f"ready {ready} with two unacked at prefetch 2")
                    held[0].ack()
                elif len(held) == 3:
                    ready = _ready(observer, queue.name)
                    check(ready == 2, f"after ack: ready {ready}")
                    queue.stop_consuming()
        queue.delete()


@driver.scenario
def nack_requeue(ctx: Context) -> None:
    with _connect(ctx) as connection, connection.channel() as channel:
        queue = _queue(ctx, channel)
        _publish(channel, b"m", queue.name)
        message = _take(queue)
        check(not message.redelivered, "fresh message redelivered")
        message.nack(requeue=True)
        message = _take(queue)
        check(message.redelivered, "nacked message not redelivered")
        message.reject(requeue=True)
        message = _take(queue)
        check(message.redelivered, "rejected message not redelivered")
        message.reject(requeue=False)
        check(queue.get() is None, "rejected without requeue came back")
        queue.delete()


@driver.scenario
def recover(ctx: Context) -> None:
    with _connect(ctx) as connection, connection.channel() as channel:
        queue = _queue(ctx, channel)
        _publish(channel, b"m", queue.name)
        seen: list[bool] = []
        for message in queue.consume():
            seen.append(bool(message.redelivered))
            if len(seen) == 1:
                channel.recover(requeue=True)
            else:
                message.ack()
                queue.stop_consuming()
        check(seen == [False, True], f"redelivered flags {seen}")
        queue.delete()


@driver.scenario
def exchange_types(ctx: Context) -> None:
    with _connect(ctx) as connection, connection.channel() as channel:
        queue = _queue(ctx, channel)
        for i, (kind, binding, arguments, key, headers, routed) in enumerate(ROUTING_CASES):
            exchange = _EXCHANGE_CLASSES[kind](channel, ctx.name(f"x{i}"), auto_delete=True)
            exchange.declare()
            queue.bind(exchange, routing_key=binding, arguments=arguments)
            properties = {"headers": headers} if headers else None
            rabbitpy.Message(channel, b"m", properties).publish(exchange, key)
            got = queue.get(acknowledge=False) is not None
            check(got == routed, f"{kind} {binding} {arguments} {key!r}: routed={got}")
        queue.delete()


@driver.scenario
def large_message(ctx: Context) -> None:
    with _connect(ctx) as connection, connection.channel() as channel:
        queue = _queue(ctx, channel)
        _publish(channel, LARGE_BODY, queue.name)
        bodies: list[bytes] = []
        for message in queue.consume(no_ack=True):
            bodies.append(message.body)
            queue.stop_consuming()
        check(bodies == [LARGE_BODY], f"body of {len(bodies[0])} bytes differs")
        queue.delete()


@driver.scenario
def heartbeat_idle(ctx: Context) -> None:
    with _connect(ctx, heartbeat=HEARTBEAT) as connection, connection.channel() as channel:
        queue = _queue(ctx, channel)
        time.sleep(IDLE_SECONDS)  # rabbitpy's IO thread answers heartbeats
        _publish(channel, b"still here", queue.name)
        message = queue.get(acknowledge=False)
        check(message is not None and message.body == b"still here", "unusable after idling")
        queue.delete()


@driver.scenario
def reconnect(ctx: Context) -> None:
    connection = _connect(ctx)
    channel = connection.channel()
    queue = _queue(ctx, channel)
    _publish(channel, b"m", queue.name)
    check(queue.get() is not None, "no message")  # left unacked: closing requeues it
    connection.close()
    with _connect(ctx) as connection, connection.channel() as channel:
        message = rabbitpy.Queue(channel, queue.name).get(acknowledge=False)
        check(message is not None and message.redelivered, "unacked message not requeued")
        rabbitpy.Queue(channel, queue.name).delete()


@driver.scenario
def error_404(ctx: Context) -> None:
    with _connect(ctx) as connection:
        try:
            rabbitpy.Queue(connection.channel(), ctx.name("missing")).declare(passive=True)
            raise AssertionError("passive declare of a missing queue succeeded")
        except rabbitpy.exceptions.AMQPNotFound as exc:
            ctx.observe(_closed_by(exc))


@driver.scenario
def error_406(ctx: Context) -> None:
    with _connect(ctx) as connection:
        queue = _queue(ctx, connection.channel())
        try:
            rabbitpy.Queue(connection.channel(), queue.name, durable=True).declare()
            raise AssertionError("inequivalent redeclare succeeded")
        except rabbitpy.exceptions.AMQPPreconditionFailed as exc:
            ctx.observe(_closed_by(exc))
        rabbitpy.Queue(connection.channel(), queue.name).delete()


if __name__ == "__main__":
    driver.main()
