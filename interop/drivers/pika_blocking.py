# pika's BlockingConnection: the synchronous API most pika users write.
from __future__ import annotations

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from interop.harness import (
    HEARTBEAT,
    IDLE_SECONDS,
    LARGE_BODY,
    ROUTING_CASES,
    Context,
    Driver,
    check,
)

driver = Driver("pika-blocking")


def _connect(ctx: Context, **overrides: object) -> pika.BlockingConnection:
    params = pika.URLParameters(ctx.url)
    for key, value in overrides.items():
        setattr(params, key, value)
    return pika.BlockingConnection(params)


def _queue(ctx: Context, channel: BlockingChannel, suffix: str = "q") -> str:
    name = ctx.name(suffix)
    channel.queue_declare(name, auto_delete=False)
    return name


def _get_body(channel: BlockingChannel, queue: str) -> bytes | None:
    method, _props, body = channel.basic_get(queue, auto_ack=True)
    return None if method is None else body


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
    with _connect(ctx) as connection:
        channel = connection.channel()
        exchange = ctx.name("x")
        channel.exchange_declare(exchange, "direct")
        queue = _queue(ctx, channel)
        channel.queue_bind(queue, exchange, routing_key="k")
        channel.basic_publish(exchange, "k", b"routed")
        channel.basic_publish(exchange, "other", b"dropped")
        check(_get_body(channel, queue) == b"routed", "bound key not routed")
        check(_get_body(channel, queue) is None, "unbound key routed")
        channel.queue_unbind(queue, exchange, routing_key="k")
        channel.basic_publish(exchange, "k", b"after unbind")
        check(_get_body(channel, queue) is None, "routed after unbind")
        channel.queue_delete(queue)
        channel.exchange_delete(exchange)


@driver.scenario
def publish_consume(ctx: Context) -> None:
    with _connect(ctx) as connection:
        channel = connection.channel()
        queue = _queue(ctx, channel)
        for i in range(10):
            props = pika.BasicProperties(content_type="text/plain", headers={"i": i})
            channel.basic_publish("", queue, f"m{i}".encode(), props)
        received: list[tuple[bytes, object]] = []
        for method, props, body in channel.consume(queue, inactivity_timeout=5):
            check(method is not None, "consume timed out")
            received.append((body, props.headers["i"]))
            channel.basic_ack(method.delivery_tag)
            if len(received) == 10:
                break
        channel.cancel()
        check(received == [(f"m{i}".encode(), i) for i in range(10)], f"got {received}")
        channel.queue_delete(queue)


@driver.scenario
def basic_get(ctx: Context) -> None:
    with _connect(ctx) as connection:
        channel = connection.channel()
        queue = _queue(ctx, channel)
        check(channel.basic_get(queue)[0] is None, "get-empty expected")
        channel.basic_publish("", queue, b"a")
        channel.basic_publish("", queue, b"b")
        method, _props, body = channel.basic_get(queue)
        check(body == b"a" and method.message_count == 1, f"got {body!r} {method}")
        channel.basic_ack(method.delivery_tag)
        ctx.observe(f"message_count={method.message_count} redelivered={method.redelivered}")
        channel.queue_delete(queue)


@driver.scenario
def confirms(ctx: Context) -> None:
    with _connect(ctx) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        queue = _queue(ctx, channel)
        for i in range(20):
            channel.basic_publish("", queue, str(i).encode(), mandatory=True)
        try:
            channel.basic_publish("", ctx.name("nowhere"), b"x", mandatory=True)
            raise AssertionError("unroutable mandatory publish was not returned")
        except pika.exceptions.UnroutableError as exc:
            ctx.observe(f"returned {len(exc.messages)}")
        check(channel.queue_declare(queue, passive=True).method.message_count == 20, "count")
        channel.queue_delete(queue)


@driver.scenario
def qos_prefetch(ctx: Context) -> None:
    with _connect(ctx) as connection:
        channel = connection.channel()
        queue = _queue(ctx, channel)
        for i in range(5):
            channel.basic_publish("", queue, str(i).encode())
        channel.basic_qos(prefetch_count=2)
        delivered: list[int] = []
        channel.basic_consume(queue, lambda ch, m, p, b: delivered.append(m.delivery_tag))
        while len(delivered) < 2:
            connection.process_data_events(time_limit=1)
        ready = channel.queue_declare(queue, passive=True).method.message_count
        check(len(delivered) == 2 and ready == 3, f"delivered {delivered}, ready {ready}")
        channel.basic_ack(delivered[0])
        while len(delivered) < 3:
            connection.process_data_events(time_limit=1)
        ready = channel.queue_declare(queue, passive=True).method.message_count
        check(len(delivered) == 3 and ready == 2, f"after ack: {delivered}, ready {ready}")
        channel.queue_delete(queue)


@driver.scenario
def nack_requeue(ctx: Context) -> None:
    with _connect(ctx) as connection:
        channel = connection.channel()
        queue = _queue(ctx, channel)
        channel.basic_publish("", queue, b"m")
        method, _p, _b = channel.basic_get(queue)
        check(not method.redelivered, "fresh message marked redelivered")
        channel.basic_nack(method.delivery_tag, requeue=True)
        method, _p, body = channel.basic_get(queue)
        check(body == b"m" and method.redelivered, "nacked message not redelivered")
        channel.basic_reject(method.delivery_tag, requeue=True)
        method, _p, body = channel.basic_get(queue)
        check(body == b"m" and method.redelivered, "rejected message not redelivered")
        channel.basic_reject(method.delivery_tag, requeue=False)
        check(channel.basic_get(queue)[0] is None, "rejected without requeue came back")
        channel.queue_delete(queue)


@driver.scenario
def recover(ctx: Context) -> None:
    with _connect(ctx) as connection:
        channel = connection.channel()
        queue = _queue(ctx, channel)
        channel.basic_publish("", queue, b"m")
        seen: list[bool] = []
        channel.basic_consume(queue, lambda ch, m, p, b: seen.append(m.redelivered))
        while not seen:
            connection.process_data_events(time_limit=1)
        channel.basic_recover(requeue=True)
        while len(seen) < 2:
            connection.process_data_events(time_limit=1)
        check(seen == [False, True], f"redelivered flags {seen}")
        channel.queue_delete(queue)


@driver.scenario
def exchange_types(ctx: Context) -> None:
    with _connect(ctx) as connection:
        channel = connection.channel()
        queue = _queue(ctx, channel)
        for i, (kind, binding, arguments, key, headers, routed) in enumerate(ROUTING_CASES):
            exchange = ctx.name(f"{kind}{i}")
            channel.exchange_declare(exchange, kind, auto_delete=True)
            channel.queue_bind(queue, exchange, routing_key=binding, arguments=arguments)
            channel.basic_publish(exchange, key, b"m", pika.BasicProperties(headers=headers))
            got = _get_body(channel, queue) is not None
            check(got == routed, f"{kind} {binding} {arguments} {key!r}: routed={got}")
        channel.queue_delete(queue)


@driver.scenario
def large_message(ctx: Context) -> None:
    with _connect(ctx) as connection:
        channel = connection.channel()
        queue = _queue(ctx, channel)
        channel.basic_publish("", queue, LARGE_BODY)
        for method, _props, body in channel.consume(queue, inactivity_timeout=10):
            check(method is not None, "no delivery")
            check(body == LARGE_BODY, f"body of {len(body)} bytes differs")
            channel.basic_ack(method.delivery_tag)
            break
        channel.cancel()
        channel.queue_delete(queue)


@driver.scenario
def heartbeat_idle(ctx: Context) -> None:
    with _connect(ctx, heartbeat=HEARTBEAT) as connection:
        channel = connection.channel()
        queue = _queue(ctx, channel)
        connection.sleep(IDLE_SECONDS)  # services heartbeats while idle
        channel.basic_publish("", queue, b"still here")
        check(_get_body(channel, queue) == b"still here", "connection unusable after idling")
        channel.queue_delete(queue)


@driver.scenario
def reconnect(ctx: Context) -> None:
    connection = _connect(ctx)
    channel = connection.channel()
    queue = _queue(ctx, channel)
    channel.basic_publish("", queue, b"m")
    method, _p, _b = channel.basic_get(queue)  # left unacked: closing requeues it
    connection.close()
    check(connection.is_closed, "not closed")
    with _connect(ctx) as connection:
        channel = connection.channel()
        method, _p, body = channel.basic_get(queue, auto_ack=True)
        check(body == b"m" and method.redelivered, "unacked message not requeued on close")
        channel.queue_delete(queue)


@driver.scenario
def error_404(ctx: Context) -> None:
    with _connect(ctx) as connection:
        channel = connection.channel()
        try:
            channel.queue_declare(ctx.name("missing"), passive=True)
            raise AssertionError("passive declare of a missing queue succeeded")
        except pika.exceptions.ChannelClosedByBroker as exc:
            check(exc.reply_code == 404, f"reply code {exc.reply_code}")
            ctx.observe(f"{type(exc).__name__} {exc.reply_code} {exc.reply_text}")
        channel = connection.channel()  # the connection survives a channel error
        try:
            channel.basic_publish(ctx.name("nox"), "k", b"m")
            channel.queue_declare("", exclusive=True)  # a round trip to see the close
            raise AssertionError("publish to a missing exchange succeeded")
        except pika.exceptions.ChannelClosedByBroker as exc:
            ctx.observe(f"{exc.reply_code} {exc.reply_text}")


@driver.scenario
def error_406(ctx: Context) -> None:
    with _connect(ctx) as connection:
        channel = connection.channel()
        queue = _queue(ctx, channel)
        try:
            channel.queue_declare(queue, durable=True)
            raise AssertionError("inequivalent redeclare succeeded")
        except pika.exceptions.ChannelClosedByBroker as exc:
            check(exc.reply_code == 406, f"reply code {exc.reply_code}")
            ctx.observe(f"{type(exc).__name__} {exc.reply_code} {exc.reply_text}")
        channel = connection.channel()
        channel.basic_publish("", queue, b"m")
        channel.queue_delete(queue)


if __name__ == "__main__":
    driver.main()
