# pika's callback adapters, SelectConnection (pika's own ioloop) and AsyncioConnection (an asyncio
# loop): the same scenarios run on both, written as generators that a small trampoline (Flow)
# resumes from pika's callbacks. Every AMQP call is the adapter's own callback API.
#
#   python -m interop.drivers.pika_callbacks select|asyncio --list | SCENARIO
from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Generator
from typing import Any

import pika
import pika.exceptions
from pika import spec
from pika.adapters.asyncio_connection import AsyncioConnection
from pika.adapters.select_connection import IOLoop
from pika.channel import Channel
from pika.connection import Connection

from interop.harness import (
    HEARTBEAT,
    IDLE_SECONDS,
    LARGE_BODY,
    ROUTING_CASES,
    Context,
    Driver,
    check,
)

Resume = Callable[[Any], None]
Op = Callable[[Resume], None]
Steps = Generator[Op, Any, None]
WAIT_LIMIT = 10.0


class Flow:
    """Runs one generator scenario on one adapter's loop.

    The generator yields Ops; an Op starts a pika call and arranges for its callback to resume the
    generator with the result. A channel or connection the broker closes throws its pika exception
    into the generator at the point where it waits, as a blocking client would raise it.
    """

    def __init__(self, adapter: str, ctx: Context) -> None:
        self.adapter = adapter
        self.ctx = ctx
        self.connections: list[Connection] = []
        self._steps: Steps | None = None
        self._token = 0
        self._error: BaseException | None = None
        self._finished = False
        if adapter == "select":
            self._ioloop: Any = IOLoop()
        else:
            self._ioloop = asyncio.new_event_loop()

    # --- driving the generator ------------------------------------------------------------
    def run(self, scenario: Callable[[Flow], Steps]) -> None:
        self._steps = scenario(self)
        self._call_soon(lambda: self._advance(None, None))
        if self.adapter == "select":
            self._ioloop.start()
        else:
            self._ioloop.run_forever()
            self._ioloop.close()
        if self._error is not None:
            raise self._error

    def _call_soon(self, fn: Callable[[], None], delay: float = 0.0) -> None:
        if self.adapter == "select":
            self._ioloop.call_later(delay, fn)
        else:
            self._ioloop.call_later(delay, fn)

    def _advance(self, value: Any, error: BaseException | None) -> None:
        assert self._steps is not None
        self._token += 1
        token = self._token
        try:
            op = self._steps.throw(error) if error is not None else self._steps.send(value)
        except StopIteration:
            self._finish(None)
            return
        except BaseException as exc:  # the scenario failed: report it after closing up
            self._finish(exc)
            return

        def resume(result: Any) -> None:
            if token == self._token and not self._finished:
                self._advance(result, None)

        op(resume)

    def fail(self, error: BaseException) -> None:
        """Throw error into the generator where it waits now."""
        if not self._finished:
            self._call_soon(lambda: self._advance(None, error))

    def _finish(self, error: BaseException | None) -> None:
        self._finished = True
        self._error = error
        for connection in self.connections:
            if connection.is_open:
                connection.close()
        self._call_soon(self._stop_when_closed)

    def _stop_when_closed(self) -> None:
        if any(not c.is_closed for c in self.connections):
            self._call_soon(self._stop_when_closed, 0.01)
        else:
            self._ioloop.stop()

    # --- operations -----------------------------------------------------------------------
    def connect(self, heartbeat: int | None = None) -> Op:
        params = pika.URLParameters(self.ctx.url)
        if heartbeat is not None:
            params.heartbeat = heartbeat
        adapter = pika.SelectConnection if self.adapter == "select" else AsyncioConnection

        def op(resume: Resume) -> None:
            def on_close(connection: Connection, reason: BaseException) -> None:
                closed_by_us = isinstance(reason, pika.exceptions.ConnectionClosedByClient)
                if not closed_by_us:
                    self.fail(reason)

            connection = adapter(
                params,
                on_open_callback=resume,
                on_open_error_callback=lambda _c, exc: self.fail(exc),
                on_close_callback=on_close,
                custom_ioloop=self._ioloop,
            )
            self.connections.append(connection)

        return op

    def channel(self, connection: Connection) -> Op:
        def op(resume: Resume) -> None:
            def on_close(_channel: Channel, reason: BaseException) -> None:
                if isinstance(reason, pika.exceptions.ChannelClosedByBroker):
                    self.fail(reason)

            def on_open(channel: Channel) -> None:
                channel.add_on_close_callback(on_close)
                resume(channel)

            connection.channel(on_open_callback=on_open)

        return op

    def call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Op:
        """A pika method that takes callback=: resumes with the reply frame."""
        return lambda resume: method(*args, callback=resume, **kwargs)

    def get(self, channel: Channel, queue: str, auto_ack: bool = False) -> Op:
        """basic.get: resumes with (method, properties, body), or None for get-empty."""

        def op(resume: Resume) -> None:
            channel.add_callback(lambda _frame: resume(None), [spec.Basic.GetEmpty])
            channel.basic_get(queue, lambda _ch, m, p, b: resume((m, p, b)), auto_ack=auto_ack)

        return op

    def until(self, predicate: Callable[[], bool], what: str) -> Op:
        deadline = time.monotonic() + WAIT_LIMIT

        def op(resume: Resume) -> None:
            def poll() -> None:
                if predicate():
                    resume(None)
                elif time.monotonic() > deadline:
                    self.fail(AssertionError(f"timed out waiting for {what}"))
                else:
                    self._call_soon(poll, 0.01)

            poll()

        return op

    def sleep(self, seconds: float) -> Op:
        return lambda resume: self._call_soon(lambda: resume(None), seconds)

    def close(self, connection: Connection) -> Op:
        def op(resume: Resume) -> None:
            connection.close()
            self._call_soon(lambda: self.until(lambda: connection.is_closed, "close")(resume))

        return op


def _declare(flow: Flow, channel: Channel, suffix: str = "q") -> Generator[Op, Any, str]:
    frame = yield flow.call(channel.queue_declare, flow.ctx.name(suffix))
    return str(frame.method.queue)


def _ready(flow: Flow, channel: Channel, queue: str) -> Generator[Op, Any, int]:
    frame = yield flow.call(channel.queue_declare, queue, passive=True)
    return int(frame.method.message_count)


def connect(flow: Flow) -> Steps:
    connection = yield flow.connect()
    channel = yield flow.channel(connection)
    check(channel.is_open, "channel not open")
    yield flow.close(connection)
    check(connection.is_closed, "connection not closed")


def declare_bind(flow: Flow) -> Steps:
    channel = yield flow.channel((yield flow.connect()))
    exchange = flow.ctx.name("x")
    yield flow.call(channel.exchange_declare, exchange, "direct")
    queue = yield from _declare(flow, channel)
    yield flow.call(channel.queue_bind, queue, exchange, routing_key="k")
    channel.basic_publish(exchange, "k", b"routed")
    channel.basic_publish(exchange, "other", b"dropped")
    got = yield flow.get(channel, queue, auto_ack=True)
    check(got is not None and got[2] == b"routed", "bound key not routed")
    check((yield flow.get(channel, queue, auto_ack=True)) is None, "unbound key routed")
    yield flow.call(channel.queue_unbind, queue, exchange, routing_key="k")
    channel.basic_publish(exchange, "k", b"late")
    check((yield flow.get(channel, queue, auto_ack=True)) is None, "routed after unbind")
    yield flow.call(channel.queue_delete, queue)
    yield flow.call(channel.exchange_delete, exchange)


def publish_consume(flow: Flow) -> Steps:
    channel = yield flow.channel((yield flow.connect()))
    queue = yield from _declare(flow, channel)
    for i in range(10):
        props = pika.BasicProperties(content_type="text/plain", headers={"i": i})
        channel.basic_publish("", queue, f"m{i}".encode(), props)
    received: list[tuple[bytes, Any]] = []

    def on_message(ch: Channel, method: Any, props: Any, body: bytes) -> None:
        received.append((body, props.headers["i"]))
        ch.basic_ack(method.delivery_tag)

    yield flow.call(channel.basic_consume, queue, on_message)
    yield flow.until(lambda: len(received) == 10, "ten deliveries")
    check(received == [(f"m{i}".encode(), i) for i in range(10)], f"got {received}")
    yield flow.call(channel.queue_delete, queue)


def basic_get(flow: Flow) -> Steps:
    channel = yield flow.channel((yield flow.connect()))
    queue = yield from _declare(flow, channel)
    check((yield flow.get(channel, queue)) is None, "get-empty expected")
    channel.basic_publish("", queue, b"a")
    channel.basic_publish("", queue, b"b")
    method, _props, body = yield flow.get(channel, queue)
    check(body == b"a", f"got {body!r}")
    channel.basic_ack(method.delivery_tag)
    flow.ctx.observe(f"message_count={method.message_count} redelivered={method.redelivered}")
    yield flow.call(channel.queue_delete, queue)


def confirms(flow: Flow) -> Steps:
    channel = yield flow.channel((yield flow.connect()))
    acked: set[int] = set()
    nacked: list[Any] = []
    returned: list[Any] = []

    def on_confirm(frame: Any) -> None:
        # Acks may come out of order (RabbitMQ acks an unroutable message at once).
        if not isinstance(frame.method, spec.Basic.Ack):
            nacked.append(frame.method)
        tag = frame.method.delivery_tag
        acked.update(range(1, tag + 1) if frame.method.multiple else [tag])

    yield flow.call(channel.confirm_delivery, on_confirm)
    channel.add_on_return_callback(lambda _ch, method, _p, _b: returned.append(method))
    queue = yield from _declare(flow, channel)
    for i in range(20):
        channel.basic_publish("", queue, str(i).encode())
    channel.basic_publish("", flow.ctx.name("nowhere"), b"x", mandatory=True)
    yield flow.until(lambda: len(acked) == 21, "21 confirms")
    check(not nacked and len(returned) == 1, f"nacked {nacked}, returned {returned}")
    flow.ctx.observe(f"returned {returned[0].reply_code} {returned[0].reply_text}")
    check((yield from _ready(flow, channel, queue)) == 20, "count")
    yield flow.call(channel.queue_delete, queue)


def qos_prefetch(flow: Flow) -> Steps:
    channel = yield flow.channel((yield flow.connect()))
    queue = yield from _declare(flow, channel)
    for i in range(5):
        channel.basic_publish("", queue, str(i).encode())
    yield flow.call(channel.basic_qos, prefetch_count=2)
    delivered: list[int] = []
    yield flow.call(
        channel.basic_consume, queue, lambda _c, m, _p, _b: delivered.append(m.delivery_tag)
    )
    yield flow.until(lambda: len(delivered) == 2, "two deliveries")
    ready = yield from _ready(flow, channel, queue)
    check(ready == 3 and len(delivered) == 2, f"delivered {delivered}, ready {ready}")
    channel.basic_ack(delivered[0])
    yield flow.until(lambda: len(delivered) == 3, "the third delivery")
    ready = yield from _ready(flow, channel, queue)
    check(ready == 2, f"after ack: ready {ready}")
    yield flow.call(channel.queue_delete, queue)


def nack_requeue(flow: Flow) -> Steps:
    channel = yield flow.channel((yield flow.connect()))
    queue = yield from _declare(flow, channel)
    channel.basic_publish("", queue, b"m")
    method, _p, _b = yield flow.get(channel, queue)
    check(not method.redelivered, "fresh message redelivered")
    channel.basic_nack(method.delivery_tag, requeue=True)
    method, _p, _b = yield flow.get(channel, queue)
    check(method.redelivered, "nacked message not redelivered")
    channel.basic_reject(method.delivery_tag, requeue=True)
    method, _p, _b = yield flow.get(channel, queue)
    check(method.redelivered, "rejected message not redelivered")
    channel.basic_reject(method.delivery_tag, requeue=False)
    check((yield flow.get(channel, queue)) is None, "rejected without requeue came back")
    yield flow.call(channel.queue_delete, queue)


def recover(flow: Flow) -> Steps:
    channel = yield flow.channel((yield flow.connect()))
    queue = yield from _declare(flow, channel)
    channel.basic_publish("", queue, b"m")
    seen: list[bool] = []
    yield flow.call(channel.basic_consume, queue, lambda _c, m, _p, _b: seen.append(m.redelivered))
    yield flow.until(lambda: len(seen) == 1, "the first delivery")
    yield flow.call(channel.basic_recover, requeue=True)
    yield flow.until(lambda: len(seen) == 2, "the redelivery")
    check(seen == [False, True], f"redelivered flags {seen}")
    yield flow.call(channel.queue_delete, queue)


def exchange_types(flow: Flow) -> Steps:
    channel = yield flow.channel((yield flow.connect()))
    queue = yield from _declare(flow, channel)
    for i, (kind, binding, arguments, key, headers, routed) in enumerate(ROUTING_CASES):
        exchange = flow.ctx.name(f"{kind}{i}")
        yield flow.call(channel.exchange_declare, exchange, kind, auto_delete=True)
        yield flow.call(channel.queue_bind, queue, exchange, binding, arguments)
        channel.basic_publish(exchange, key, b"m", pika.BasicProperties(headers=headers))
        got = (yield flow.get(channel, queue, auto_ack=True)) is not None
        check(got == routed, f"{kind} {binding} {arguments} {key!r}: routed={got}")
    yield flow.call(channel.queue_delete, queue)


def large_message(flow: Flow) -> Steps:
    channel = yield flow.channel((yield flow.connect()))
    queue = yield from _declare(flow, channel)
    channel.basic_publish("", queue, LARGE_BODY)
    bodies: list[bytes] = []
    yield flow.call(
        channel.basic_consume, queue, lambda _c, _m, _p, b: bodies.append(b), auto_ack=True
    )
    yield flow.until(lambda: bool(bodies), "the delivery")
    check(bodies == [LARGE_BODY], f"body of {len(bodies[0])} bytes differs")
    yield flow.call(channel.queue_delete, queue)


def heartbeat_idle(flow: Flow) -> Steps:
    channel = yield flow.channel((yield flow.connect(heartbeat=HEARTBEAT)))
    queue = yield from _declare(flow, channel)
    yield flow.sleep(IDLE_SECONDS)  # the loop answers heartbeats meanwhile
    channel.basic_publish("", queue, b"still here")
    got = yield flow.get(channel, queue, auto_ack=True)
    check(got is not None and got[2] == b"still here", "unusable after idling")
    yield flow.call(channel.queue_delete, queue)


def reconnect(flow: Flow) -> Steps:
    connection = yield flow.connect()
    channel = yield flow.channel(connection)
    queue = yield from _declare(flow, channel)
    channel.basic_publish("", queue, b"m")
    check((yield flow.get(channel, queue)) is not None, "no message")  # unacked: requeued
    yield flow.close(connection)
    channel = yield flow.channel((yield flow.connect()))
    got = yield flow.get(channel, queue, auto_ack=True)
    check(got is not None and got[0].redelivered, "unacked message not requeued on close")
    yield flow.call(channel.queue_delete, queue)


def error_404(flow: Flow) -> Steps:
    connection = yield flow.connect()
    channel = yield flow.channel(connection)
    try:
        yield flow.call(channel.queue_declare, flow.ctx.name("missing"), passive=True)
        raise AssertionError("passive declare of a missing queue succeeded")
    except pika.exceptions.ChannelClosedByBroker as exc:
        check(exc.reply_code == 404, f"reply code {exc.reply_code}")
        flow.ctx.observe(f"{type(exc).__name__} {exc.reply_code} {exc.reply_text}")
    channel = yield flow.channel(connection)
    try:
        channel.basic_publish(flow.ctx.name("nox"), "k", b"m")
        yield flow.call(channel.queue_declare, "", exclusive=True)
        raise AssertionError("publish to a missing exchange went unnoticed")
    except pika.exceptions.ChannelClosedByBroker as exc:
        flow.ctx.observe(f"{exc.reply_code} {exc.reply_text}")


def error_406(flow: Flow) -> Steps:
    connection = yield flow.connect()
    channel = yield flow.channel(connection)
    queue = yield from _declare(flow, channel)
    try:
        yield flow.call(channel.queue_declare, queue, durable=True)
        raise AssertionError("inequivalent redeclare succeeded")
    except pika.exceptions.ChannelClosedByBroker as exc:
        check(exc.reply_code == 406, f"reply code {exc.reply_code}")
        flow.ctx.observe(f"{type(exc).__name__} {exc.reply_code} {exc.reply_text}")
    channel = yield flow.channel(connection)
    yield flow.call(channel.queue_delete, queue)


SCENARIOS: tuple[Callable[[Flow], Steps], ...] = (
    connect,
    declare_bind,
    publish_consume,
    basic_get,
    confirms,
    qos_prefetch,
    nack_requeue,
    recover,
    exchange_types,
    large_message,
    heartbeat_idle,
    reconnect,
    error_404,
    error_406,
)


def adapter_driver(adapter: str) -> Driver:
    driver = Driver(f"pika-{adapter}")
    for scenario in SCENARIOS:
        driver.add(scenario.__name__, lambda ctx, s=scenario: Flow(adapter, ctx).run(s))
    return driver


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("select", "asyncio"):
        sys.exit("usage: pika_callbacks select|asyncio --list | SCENARIO")
    adapter_driver(sys.argv[1]).main(sys.argv[2:])
