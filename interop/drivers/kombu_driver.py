# kombu over py-amqp (the `pyamqp` transport): how Celery and most kombu applications talk AMQP,
# with Connection, Exchange, Queue, Producer and Consumer.
from __future__ import annotations

import contextlib
import time
from typing import Any

import amqp.exceptions
from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.message import Message

from interop.harness import (
    HEARTBEAT,
    IDLE_SECONDS,
    LARGE_BODY,
    ROUTING_CASES,
    Context,
    Driver,
    check,
)

driver = Driver("kombu")
ACCEPT = ["json", "application/data"]


def _connect(ctx: Context, **options: Any) -> Connection:
    connection = Connection(ctx.url, **options)
    connection.connect()
    return connection


def _drain_until(connection: Connection, done: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        check(time.monotonic() < deadline, "timed out waiting for deliveries")
        with contextlib.suppress(TimeoutError):
            connection.drain_events(timeout=0.5)


def _ready(connection: Connection, name: str) -> int:
    return int(connection.default_channel.queue_declare(name, passive=True).message_count)


@driver.scenario
def connect(ctx: Context) -> None:
    connection = _connect(ctx)
    check(connection.connected, "not connected")
    channel = connection.channel()
    check(channel.is_open, "channel not open")
    connection.release()
    check(not connection.connected, "still connected")


@driver.scenario
def declare_bind(ctx: Context) -> None:
    with _connect(ctx) as connection:
        exchange = Exchange(ctx.name("x"), "direct")
        queue = Queue(ctx.name(), exchange=exchange, routing_key="k")(connection.default_channel)
        queue.declare()
        producer = Producer(connection.default_channel, exchange=exchange)
        producer.publish({"n": 1}, routing_key="k")
        producer.publish({"n": 2}, routing_key="other")
        message = queue.get(no_ack=True, accept=ACCEPT)
        check(message is not None and message.payload == {"n": 1}, "bound key not routed")
        check(queue.get(no_ack=True) is None, "unbound key routed")
        queue.unbind_from(exchange, routing_key="k")
        producer.publish({"n": 3}, routing_key="k")
        check(queue.get(no_ack=True) is None, "routed after unbind")
        queue.delete()
        exchange(connection.default_channel).delete()


@driver.scenario
def publish_consume(ctx: Context) -> None:
    with _connect(ctx) as connection:
        queue = Queue(ctx.name())
        producer = Producer(connection.default_channel)
        for i in range(10):
            producer.publish({"i": i}, routing_key=queue.name, declare=[queue], headers={"i": i})
        received: list[tuple[Any, Any]] = []

        def on_message(body: Any, message: Message) -> None:
            received.append((body["i"], message.headers["i"]))
            message.ack()

        with Consumer(connection.default_channel, [queue], callbacks=[on_message], accept=ACCEPT):
            _drain_until(connection, lambda: len(received) == 10)
        check(received == [(i, i) for i in range(10)], f"got {received}")
        queue(connection.default_channel).delete()


@driver.scenario
def basic_get(ctx: Context) -> None:
    with _connect(ctx) as connection:
        queue = Queue(ctx.name())(connection.default_channel)
        queue.declare()
        check(queue.get() is None, "get-empty expected")
        producer = Producer(connection.default_channel)
        for body in ("a", "b"):
            producer.publish({"body": body}, routing_key=queue.name)
        message = queue.get(accept=ACCEPT)
        check(message is not None and message.payload == {"body": "a"}, "first message expected")
        message.ack()
        info = message.delivery_info
        ctx.observe(f"message_count={info['message_count']} redelivered={info['redelivered']}")
        queue.delete()


@driver.scenario
def confirms(ctx: Context) -> None:
    options = {"transport_options": {"confirm_publish": True}}
    with _connect(ctx, **options) as connection:
        queue = Queue(ctx.name())(connection.default_channel)
        queue.declare()
        returned: list[Any] = []
        producer = Producer(
            connection.default_channel, on_return=lambda *args: returned.append(args)
        )
        for i in range(20):
            producer.publish(i, routing_key=queue.name)  # waits for each basic.ack
        producer.publish("x", routing_key=ctx.name("nowhere"), mandatory=True)
        connection.drain_events(timeout=0.5) if not returned else None
        check(len(returned) == 1, f"returned {returned}")
        ctx.observe(f"returned reply_code={returned[0][1]} {returned[0][2]}")
        check(_ready(connection, queue.name) == 20, "count")
        queue.delete()


@driver.scenario
def qos_prefetch(ctx: Context) -> None:
    with _connect(ctx) as connection:
        queue = Queue(ctx.name())
        producer = Producer(connection.default_channel)
        for i in range(5):
            producer.publish(i, routing_key=queue.name, declare=[queue])
        delivered: list[Message] = []
        consumer = Consumer(
            connection.default_channel,
            [queue],
            on_message=delivered.append,
            accept=ACCEPT,
            prefetch_count=2,
        )
        with consumer:
            _drain_until(connection, lambda: len(delivered) == 2)
            ready = _ready(connection, queue.name)
            check(ready == 3, f"ready {ready}")
            delivered[0].ack()
            _drain_until(connection, lambda: len(delivered) == 3)
            ready = _ready(connection, queue.name)
            check(ready == 2, f"after ack: ready {ready}")
        queue(connection.default_channel).delete()


@driver.scenario
def nack_requeue(ctx: Context) -> None:
    with _connect(ctx) as connection:
        queue = Queue(ctx.name())(connection.default_channel)
        queue.declare()
        Producer(connection.default_channel).publish("m", routing_key=queue.name)
        message = queue.get(accept=ACCEPT)
        check(not message.delivery_info["redelivered"], "fresh message redelivered")
        message.requeue()  # basic.reject(requeue=True)
        message = queue.get(accept=ACCEPT)
        check(message.delivery_info["redelivered"], "requeued message not redelivered")
        message.reject(requeue=False)
        check(queue.get() is None, "rejected without requeue came back")
        queue.delete()


@driver.scenario
def recover(ctx: Context) -> None:
    with _connect(ctx) as connection:
        queue = Queue(ctx.name())
        Producer(connection.default_channel).publish("m", routing_key=queue.name, declare=[queue])
        seen: list[bool] = []
        consumer = Consumer(
            connection.default_channel,
            [queue],
            on_message=lambda m: seen.append(m.delivery_info["redelivered"]),
            accept=ACCEPT,
        )
        with consumer:
            _drain_until(connection, lambda: len(seen) == 1)
            consumer.recover(requeue=True)
            _drain_until(connection, lambda: len(seen) == 2)
        check(seen == [False, True], f"redelivered flags {seen}")
        queue(connection.default_channel).delete()


@driver.scenario
def exchange_types(ctx: Context) -> None:
    with _connect(ctx) as connection:
        channel = connection.default_channel
        producer = Producer(channel)
        for i, (kind, binding, arguments, key, headers, routed) in enumerate(ROUTING_CASES):
            exchange = Exchange(ctx.name(f"{kind}{i}"), kind, auto_delete=True)
            queue = Queue(
                ctx.name(f"q{i}"),
                exchange=exchange,
                routing_key=binding,
                binding_arguments=arguments,
                auto_delete=True,
            )(channel)
            queue.declare()
            producer.publish("m", exchange=exchange, routing_key=key, headers=headers)
            got = queue.get(no_ack=True) is not None
            check(got == routed, f"{kind} {binding} {arguments} {key!r}: routed={got}")
            queue.delete()


@driver.scenario
def large_message(ctx: Context) -> None:
    with _connect(ctx) as connection:
        queue = Queue(ctx.name())
        Producer(connection.default_channel).publish(
            LARGE_BODY,
            routing_key=queue.name,
            declare=[queue],
            content_type="application/data",
            content_encoding="binary",
        )
        bodies: list[bytes] = []

        def on_message(message: Message) -> None:
            bodies.append(message.body)
            message.ack()

        with Consumer(connection.default_channel, [queue], on_message=on_message, accept=ACCEPT):
            _drain_until(connection, lambda: bool(bodies))
        check(bodies == [LARGE_BODY], f"body of {len(bodies[0])} bytes differs")
        queue(connection.default_channel).delete()


@driver.scenario
def heartbeat_idle(ctx: Context) -> None:
    with _connect(ctx, heartbeat=HEARTBEAT) as connection:
        queue = Queue(ctx.name())
        bodies: list[Any] = []
        with Consumer(
            connection.default_channel, [queue], callbacks=[lambda b, m: bodies.append(b)]
        ):
            # The loop every kombu consumer runs: drain with a timeout, check heartbeats.
            deadline = time.monotonic() + IDLE_SECONDS
            while time.monotonic() < deadline:
                connection.heartbeat_check()
                with contextlib.suppress(TimeoutError):
                    connection.drain_events(timeout=0.2)
            Producer(connection.default_channel).publish("still here", routing_key=queue.name)
            _drain_until(connection, lambda: bool(bodies))
        check(bodies == ["still here"], f"got {bodies}")
        queue(connection.default_channel).delete()


@driver.scenario
def reconnect(ctx: Context) -> None:
    queue = Queue(ctx.name())
    with _connect(ctx) as connection:
        Producer(connection.default_channel).publish("m", routing_key=queue.name, declare=[queue])
        message = queue(connection.default_channel).get()  # left unacked: closing requeues it
        check(message is not None, "no message")
    with _connect(ctx) as connection:
        message = queue(connection.default_channel).get(no_ack=True)
        check(message is not None and message.delivery_info["redelivered"], "not requeued")
        queue(connection.default_channel).delete()


@driver.scenario
def error_404(ctx: Context) -> None:
    with _connect(ctx) as connection:
        try:
            connection.channel().queue_declare(ctx.name("missing"), passive=True)
            raise AssertionError("passive declare of a missing queue succeeded")
        except amqp.exceptions.NotFound as exc:
            check(exc.code == 404, f"code {exc.code}")
            ctx.observe(f"{type(exc).__name__} {exc.code} {exc.reply_text}")
        try:
            Exchange(ctx.name("nox"), "direct", passive=True)(connection.channel()).declare()
            raise AssertionError("passive declare of a missing exchange succeeded")
        except amqp.exceptions.NotFound as exc:
            ctx.observe(f"{type(exc).__name__} {exc.code} {exc.reply_text}")


@driver.scenario
def error_406(ctx: Context) -> None:
    with _connect(ctx) as connection:
        Queue(ctx.name(), durable=False)(connection.default_channel).declare()
        try:
            Queue(ctx.name(), durable=True)(connection.channel()).declare()
            raise AssertionError("inequivalent redeclare succeeded")
        except amqp.exceptions.PreconditionFailed as exc:
            check(exc.code == 406, f"code {exc.code}")
            ctx.observe(f"{type(exc).__name__} {exc.code} {exc.reply_text}")
        connection.default_channel.queue_delete(ctx.name())


@driver.scenario
def reply_texts(ctx: Context) -> None:
    """What RabbitMQ answers to input clients can send but should not: an unknown delivery mode,
    immediate=true, an invalid x-max-priority. Compared text for text with RabbitMQ's."""
    attempts: list[tuple[str, Any]] = [
        (
            "delivery_mode=7",
            lambda ch: ch.basic_publish(amqp.Message(b"m", delivery_mode=7), "", "q"),
        ),
        ("immediate", lambda ch: ch.basic_publish(amqp.Message(b"m"), "", "q", immediate=True)),
    ]
    for value in (256, -1, "ten", 1.5):
        declare = {"arguments": {"x-max-priority": value}, "auto_delete": True}
        attempts.append(
            (f"x-max-priority={value!r}", lambda ch, d=declare: ch.queue_declare(ctx.name(), **d))
        )
    for label, attempt in attempts:
        with _connect(ctx) as connection:
            channel = connection.channel()
            try:
                attempt(channel)
                channel.queue_declare("", exclusive=True)  # a round trip to see the close
                ctx.observe(f"{label}: accepted")
            except amqp.exceptions.AMQPError as exc:
                ctx.observe(f"{label}: {type(exc).__name__} {exc.code} {exc.reply_text}")
    check(len(ctx.observed) == len(attempts), "an attempt went unrecorded")


if __name__ == "__main__":
    driver.main()
