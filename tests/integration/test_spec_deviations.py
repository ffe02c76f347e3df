# Where RabbitMQ departs from the AMQP 0-9-1 text, and the small extensions old and new clients
# rely on: access.request, no-local, idempotent deletes and unbinds, immediate, validated user-id.
# Expected answers are what a live RabbitMQ 3.10.8 node gave for the same frames.
from __future__ import annotations

import amqp
import amqp.exceptions
import pika
import pika.exceptions
import pytest
import trio
from amqp_clients import amqp_connect, connect
from amqp_raw_client import RawClient
from pamqp import commands

from amqp_broker.testing import open_broker


async def test_old_clients_access_request_is_answered_with_ticket_1() -> None:
    with trio.fail_after(5):
        async with open_broker() as broker:
            client = await RawClient.connect(broker.port)
            await client.handshake()
            await client.open_channel(1)
            realm = b"/data"
            payload = b"\x00\x1e\x00\x0a" + bytes((len(realm),)) + realm + b"\x1f"
            await client.send(b"\x01\x00\x01" + len(payload).to_bytes(4, "big") + payload + b"\xce")
            # access.request-ok, ticket=1
            assert (
                await client.read_raw_frame()
                == b"\x01\x00\x01\x00\x00\x00\x06\x00\x1e\x00\x0b\x00\x01\xce"
            )
            await client.send_method(1, commands.Queue.Declare(queue="after-access"))
            assert isinstance((await client.read_method())[1], commands.Queue.DeclareOk)
            await client.aclose()


def test_no_local_is_accepted_and_ignored(amqp_url: str) -> None:
    connection = amqp_connect(amqp_url)
    try:
        channel = connection.channel()
        queue, _, _ = channel.queue_declare("", exclusive=True)
        received: list[bytes] = []
        channel.basic_consume(
            queue, no_local=True, no_ack=True, callback=lambda m: received.append(m.body)
        )
        channel.basic_publish(amqp.Message(b"own"), "", queue)
        while not received:
            connection.drain_events(timeout=2)
        assert received == [b"own"]  # RabbitMQ delivers a connection's own messages anyway
    finally:
        connection.close()


def test_deletes_and_unbinds_of_missing_things_succeed(amqp_url: str) -> None:
    connection = connect(amqp_url)
    try:
        channel = connection.channel()
        channel.queue_declare("real-q")
        assert (
            channel.queue_delete("missing-q", if_unused=True, if_empty=True).method.message_count
            == 0
        )
        channel.exchange_delete("missing-x", if_unused=True)
        channel.queue_unbind("real-q", "missing-x", "k")
        channel.queue_unbind("missing-q", "amq.direct", "k")
        channel.queue_unbind("real-q", "amq.direct", "never-bound")
        channel.exchange_unbind("missing-x", "amq.direct", "k")
        channel.exchange_unbind("amq.fanout", "missing-x", "k")
        # Binding, unlike unbinding, still needs both ends.
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as closed:
            channel.queue_bind("real-q", "missing-x", "k")
        vhost = amqp_url.rsplit("/", 1)[1]
        assert closed.value.args == (404, f"NOT_FOUND - no exchange 'missing-x' in vhost '{vhost}'")
    finally:
        connection.close()


def test_immediate_is_540_even_to_a_missing_exchange(amqp_url: str) -> None:
    connection = amqp_connect(amqp_url)
    try:
        channel = connection.channel()
        channel.basic_publish(amqp.Message(b"now"), "no-such-exchange", "k", immediate=True)
        with pytest.raises(amqp.exceptions.AMQPNotImplementedError) as closed:
            connection.drain_events(timeout=3)  # reading only: the server closes after close-ok
    finally:
        connection.collect()
    assert (closed.value.reply_code, closed.value.reply_text) == (
        540,
        "NOT_IMPLEMENTED - immediate=true",
    )


def test_user_id_must_be_the_publishers_user(amqp_url: str) -> None:
    connection = connect(amqp_url)
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish("", "anywhere", b"", pika.BasicProperties(user_id="guest"))
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as closed:
            channel.basic_publish("", "anywhere", b"", pika.BasicProperties(user_id="mallory"))
        assert closed.value.args == (
            406,
            "PRECONDITION_FAILED - user_id property set to 'mallory' but authenticated user "
            "was 'guest'",
        )
    finally:
        connection.close()
