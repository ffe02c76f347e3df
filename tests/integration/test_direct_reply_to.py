# Direct reply-to (`amq.rabbitmq.reply-to`) with pika and aio-pika. The expected answers, error
# texts and delivery tags included, are what a live RabbitMQ 3.10.8 node gave for the same calls.
from __future__ import annotations

import asyncio
import time
from typing import Any

import aio_pika
import aio_pika.abc
import aio_pika.patterns
import amqp
import amqp.exceptions
import pika
import pika.exceptions
import pytest
from amqp_clients import amqp_connect, connect
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

REPLY_TO = "amq.rabbitmq.reply-to"

Received = tuple[Any, pika.BasicProperties, bytes]


def _wait_for(connection: BlockingConnection, received: list[Any], count: int) -> None:
    deadline = time.monotonic() + 5
    while len(received) < count:
        assert time.monotonic() < deadline, f"only {len(received)} of {count} arrived"
        connection.process_data_events(0.05)


def _requester(url: str) -> tuple[BlockingConnection, BlockingChannel, list[Received], str]:
    """A connection consuming replies and a server-named request queue it also consumes from,
    acked (so request deliveries take delivery tags)."""
    connection = connect(url)
    channel = connection.channel()
    replies: list[Received] = []
    channel.basic_consume(
        REPLY_TO, lambda _ch, method, props, body: replies.append((method, props, body)), True
    )
    queue = channel.queue_declare("", exclusive=True).method.queue
    return connection, channel, replies, queue


def test_rpc_round_trip_rewrites_reply_to_and_delivers_without_a_queue(amqp_url: str) -> None:
    connection, channel, replies, queue = _requester(amqp_url)
    requests: list[Received] = []
    channel.basic_consume(queue, lambda _ch, m, p, b: requests.append((m, p, b)))
    channel.basic_publish(
        "", queue, b"ask", pika.BasicProperties(reply_to=REPLY_TO, correlation_id="c1")
    )
    _wait_for(connection, requests, 1)
    request_method, request_props, _ = requests[0]
    address = request_props.reply_to
    assert address.startswith(REPLY_TO + ".") and len(address) > len(REPLY_TO) + 16
    assert request_props.correlation_id == "c1"

    responder = connect(amqp_url)
    try:
        reply_channel = responder.channel()
        reply_channel.basic_publish(
            "", address, b"answer", pika.BasicProperties(correlation_id="c1", headers={"n": 1})
        )
        reply_channel.basic_publish("", address, b"second")
        _wait_for(connection, replies, 2)
    finally:
        responder.close()
    (first, first_props, first_body), (second, _, second_body) = replies
    assert (first_body, first_props.correlation_id, first_props.headers) == (
        b"answer",
        "c1",
        {"n": 1},
    )
    assert second_body == b"second"
    for method in (first, second):
        assert (method.exchange, method.routing_key, method.redelivered) == ("", address, False)
        # RabbitMQ gives a reply the channel's next delivery tag without using it up.
        assert method.delivery_tag == request_method.delivery_tag + 1

    # The same name for every request while the consumer lasts.
    channel.basic_publish("", queue, b"again", pika.BasicProperties(reply_to=REPLY_TO))
    _wait_for(connection, requests, 2)
    assert requests[1][1].reply_to == address
    assert requests[1][0].delivery_tag == request_method.delivery_tag + 1
    connection.close()


def test_reply_name_passive_declare_while_requester_lives_then_404(amqp_url: str) -> None:
    connection, channel, _, queue = _requester(amqp_url)
    channel.basic_publish("", queue, b"ask", pika.BasicProperties(reply_to=REPLY_TO))
    address = _get_reply_to(channel, queue)
    responder = connect(amqp_url)
    try:
        probe = responder.channel()
        declared = probe.queue_declare(address, passive=True).method
        assert (declared.queue, declared.message_count, declared.consumer_count) == (address, 0, 1)
        pseudo = probe.queue_declare(REPLY_TO).method  # not passive: still only a check
        assert (pseudo.queue, pseudo.message_count, pseudo.consumer_count) == (REPLY_TO, 0, 1)
        channel.close()  # the requester goes
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as closed:
            probe.queue_declare(address, passive=True)
        vhost = amqp_url.rsplit("/", 1)[1]
        assert closed.value.args == (404, f"NOT_FOUND - no queue '{address}' in vhost '{vhost}'")
        # A reply to a requester that has gone is dropped quietly.
        late = responder.channel()
        late.confirm_delivery()
        late.basic_publish("", address, b"too late")
        assert late.queue_declare("still-open").method.queue == "still-open"
    finally:
        responder.close()
        connection.close()


def _get_reply_to(channel: BlockingChannel, queue: str) -> str:
    deadline = time.monotonic() + 5
    while True:
        method, props, _ = channel.basic_get(queue, auto_ack=True)
        if method is not None:
            reply_to: str = props.reply_to
            return reply_to
        assert time.monotonic() < deadline
        channel.connection.process_data_events(0.05)


def test_cancel_and_consume_again_gives_a_new_name(amqp_url: str) -> None:
    connection, channel, _, queue = _requester(amqp_url)
    try:
        channel.basic_publish("", queue, b"1", pika.BasicProperties(reply_to=REPLY_TO))
        first = _get_reply_to(channel, queue)
        (tag,) = channel.consumer_tags
        channel.basic_cancel(tag)
        channel.basic_consume(REPLY_TO, lambda *_: None, auto_ack=True)
        channel.basic_publish("", queue, b"2", pika.BasicProperties(reply_to=REPLY_TO))
        second = _get_reply_to(channel, queue)
        assert second != first
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as closed:
            channel.queue_declare(first, passive=True)
        assert closed.value.args[0] == 404
    finally:
        connection.close()


def test_mandatory_reply_is_delivered_and_also_returned_312(amqp_url: str) -> None:
    """RabbitMQ routes a reply to no queue, so mandatory returns it even though it arrives."""
    connection, channel, replies, queue = _requester(amqp_url)
    channel.basic_publish("", queue, b"ask", pika.BasicProperties(reply_to=REPLY_TO))
    address = _get_reply_to(channel, queue)
    responder = connect(amqp_url)
    try:
        reply_channel = responder.channel()
        reply_channel.confirm_delivery()
        with pytest.raises(pika.exceptions.UnroutableError):
            reply_channel.basic_publish("", address, b"answer", mandatory=True)
        _wait_for(connection, replies, 1)
        assert replies[0][2] == b"answer"
    finally:
        responder.close()
        connection.close()


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("ack_mode", (406, "PRECONDITION_FAILED - reply consumer cannot acknowledge")),
        ("twice", (406, "PRECONDITION_FAILED - reply consumer already set")),
        ("publish_first", (406, "PRECONDITION_FAILED - fast reply consumer does not exist")),
        ("other_channel", (406, "PRECONDITION_FAILED - fast reply consumer does not exist")),
    ],
)
def test_misuse_closes_the_channel_as_rabbitmq(
    amqp_url: str, scenario: str, expected: tuple[int, str]
) -> None:
    connection = connect(amqp_url)
    try:
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as closed:
            if scenario == "ack_mode":
                channel.basic_consume(REPLY_TO, lambda *_: None, auto_ack=False)
            elif scenario == "twice":
                channel.basic_consume(REPLY_TO, lambda *_: None, auto_ack=True)
                channel.basic_consume(REPLY_TO, lambda *_: None, auto_ack=True)
            else:
                if scenario == "other_channel":
                    connection.channel().basic_consume(REPLY_TO, lambda *_: None, auto_ack=True)
                channel.basic_publish("", "anywhere", b"x", pika.BasicProperties(reply_to=REPLY_TO))
                channel.queue_declare("sync-point")
        assert closed.value.args == expected
        assert connection.is_open  # a channel error only
        assert connection.channel().queue_declare("after").method.queue == "after"
    finally:
        connection.close()


def test_reply_consumer_tag_reused_from_a_queue_consumer_is_530(amqp_url: str) -> None:
    connection = amqp_connect(amqp_url)  # pika refuses to send a duplicate tag
    try:
        channel = connection.channel()
        queue, _, _ = channel.queue_declare("", exclusive=True)
        channel.basic_consume(queue, consumer_tag="mine", callback=lambda _message: None)
        with pytest.raises(amqp.exceptions.NotAllowed) as closed:
            channel.basic_consume(
                REPLY_TO, consumer_tag="mine", no_ack=True, callback=lambda _message: None
            )
        assert closed.value.reply_text == "NOT_ALLOWED - attempt to reuse consumer tag 'mine'"
    finally:
        connection.collect()


def _run(coroutine: Any) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(coroutine, timeout=10)

    asyncio.run(bounded())


def test_aio_pika_rpc_over_direct_reply_to(amqp_url: str) -> None:
    """The RPC tutorial's client with aio-pika, replies through amq.rabbitmq.reply-to."""

    async def scenario() -> None:
        server = await aio_pika.connect(amqp_url)
        client = await aio_pika.connect(amqp_url)
        async with server, client:
            server_channel = await server.channel()
            requests = await server_channel.declare_queue("rpc-requests")

            async def answer(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                async with message.process():
                    assert message.reply_to is not None
                    assert message.reply_to.startswith(REPLY_TO + ".")
                    await server_channel.default_exchange.publish(
                        aio_pika.Message(
                            message.body.upper(), correlation_id=message.correlation_id
                        ),
                        routing_key=message.reply_to,
                    )

            await requests.consume(answer)

            channel = await client.channel()
            callback_queue = await channel.get_queue(REPLY_TO)  # a passive declare
            futures: dict[str, asyncio.Future[bytes]] = {}

            async def on_reply(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                assert message.correlation_id is not None
                futures.pop(message.correlation_id).set_result(message.body)

            await callback_queue.consume(on_reply, no_ack=True)
            loop = asyncio.get_running_loop()
            for n in range(20):
                futures[str(n)] = loop.create_future()
            waiting = [futures[str(n)] for n in range(20)]
            for n in range(20):
                await channel.default_exchange.publish(
                    aio_pika.Message(
                        f"call {n}".encode(), correlation_id=str(n), reply_to=REPLY_TO
                    ),
                    routing_key="rpc-requests",
                )
            answers = await asyncio.gather(*waiting)
            assert answers == [f"CALL {n}".encode() for n in range(20)]

    _run(scenario())


def test_aio_pika_rpc_pattern(amqp_url: str) -> None:
    """aio-pika's own RPC pattern (a result queue bound to a headers exchange) works too."""

    async def scenario() -> None:
        connection = await aio_pika.connect(amqp_url)
        async with connection:
            channel = await connection.channel()
            rpc = await aio_pika.patterns.RPC.create(channel)

            async def multiply(*, x: int, y: int) -> int:
                return x * y

            await rpc.register("multiply", multiply, auto_delete=True)
            results = [await rpc.proxy.multiply(x=n, y=3) for n in range(5)]
            assert results == [0, 3, 6, 9, 12]
            await rpc.close()

    _run(scenario())
