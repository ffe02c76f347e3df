# Message TTL and queue expiry through pika: x-message-ttl, the `expiration` property, TTL 0,
# x-expires, and the 406 texts RabbitMQ 3.10.8 sends for invalid values (measured).
from __future__ import annotations

import pika
import pika.exceptions
import pytest
from amqp_clients import connect, ready_count, vhost_of, wait_until
from pika.adapters.blocking_connection import BlockingChannel


def _gone(channel: BlockingChannel, queue: str) -> bool:
    """Whether `queue` no longer exists, asked without using it (a declare would count as a
    use for x-expires): a mandatory publish to it comes back unroutable."""
    try:
        channel.basic_publish("", queue, b"probe", mandatory=True)
    except pika.exceptions.UnroutableError:
        return True
    return False


def test_queue_ttl_drops_expired_messages_without_a_consumer(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("ttl", arguments={"x-message-ttl": 30})
        channel.basic_publish("", "ttl", b"soon gone")
        wait_until(lambda: ready_count(channel, "ttl") == 0)
        assert channel.basic_get("ttl", auto_ack=True) == (None, None, None)


def test_message_expiration_is_never_delivered(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("per-message")
        channel.basic_publish("", "per-message", b"old", pika.BasicProperties(expiration="20"))
        channel.basic_publish("", "per-message", b"fresh")
        # the expired head is removed when it is reached; the next message is delivered
        wait_until(lambda: ready_count(channel, "per-message") == 1)
        assert channel.basic_get("per-message", auto_ack=True)[2] == b"fresh"


def test_lower_of_queue_ttl_and_expiration_wins(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("both", arguments={"x-message-ttl": 60000})
        channel.basic_publish("", "both", b"short", pika.BasicProperties(expiration="20"))
        wait_until(lambda: channel.basic_get("both", auto_ack=True)[0] is None)
        channel.queue_declare("both-2", arguments={"x-message-ttl": 20})
        channel.basic_publish("", "both-2", b"long", pika.BasicProperties(expiration="60000"))
        wait_until(lambda: ready_count(channel, "both-2") == 0)


def test_message_expired_behind_the_head_waits_for_the_head(amqp_url: str) -> None:
    # RabbitMQ 3.10.8 (measured): the short-lived message is still counted until it reaches
    # the head; taking the head drops it, so the GetOk count is already 0
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("head")
        channel.basic_publish("", "head", b"long", pika.BasicProperties(expiration="60000"))
        channel.basic_publish("", "head", b"short", pika.BasicProperties(expiration="1"))
        # a later message with the same TTL expiring on its own shows the 1 ms has passed
        channel.queue_declare("clock", arguments={"x-message-ttl": 1})
        channel.basic_publish("", "clock", b"")
        wait_until(lambda: ready_count(channel, "clock") == 0)
        assert ready_count(channel, "head") == 2
        method, _properties, body = channel.basic_get("head", auto_ack=True)
        assert body == b"long"
        assert method.message_count == 0
        assert ready_count(channel, "head") == 0


def test_ttl_zero_reaches_a_waiting_consumer_and_nobody_else(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("now", arguments={"x-message-ttl": 0})
        channel.basic_publish("", "now", b"nobody listens")
        assert ready_count(channel, "now") == 0
        received: list[bytes] = []
        channel.basic_consume(
            "now", lambda ch, method, props, body: received.append(body), auto_ack=True
        )
        channel.basic_publish("", "now", b"delivered")
        wait_until(lambda: (connection.process_data_events(0.01), received)[1] != [])
        assert received == [b"delivered"]


@pytest.mark.parametrize(
    ("expiration", "text"),
    [
        ("abc", "PRECONDITION_FAILED - invalid expiration 'abc': no_integer"),
        ("-1", "PRECONDITION_FAILED - invalid expiration '-1': {value_negative,-1}"),
        ("10x", "PRECONDITION_FAILED - invalid expiration '10x': {leftover_string,\"x\"}"),
    ],
)
def test_invalid_expiration_closes_the_channel_406(
    amqp_url: str, expiration: str, text: str
) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("bad-expiration")
        channel.basic_publish(
            "", "bad-expiration", b"x", pika.BasicProperties(expiration=expiration)
        )
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.queue_declare("bad-expiration", passive=True)
    assert (info.value.reply_code, info.value.reply_text) == (406, text)


@pytest.mark.parametrize(
    ("arguments", "detail"),
    [
        ({"x-message-ttl": -1}, "invalid arg 'x-message-ttl' for {q}: {{value_negative,-1}}"),
        (
            {"x-message-ttl": "1000"},
            "invalid arg 'x-message-ttl' for {q}: \"expected integer, got longstr\"",
        ),
        ({"x-expires": 0}, "invalid arg 'x-expires' for {q}: {{value_zero,0}}"),
        (
            {"x-message-ttl": 315360000001},
            "invalid arg 'x-message-ttl' for {q}: {{value_too_large,315360000001}}",
        ),
    ],
)
def test_invalid_ttl_arguments_406(
    amqp_url: str, arguments: dict[str, object], detail: str
) -> None:
    resource = f"queue 'q' in vhost '{vhost_of(amqp_url)}'"
    with connect(amqp_url) as connection:
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.queue_declare("q", arguments=arguments)
    assert info.value.reply_code == 406
    assert info.value.reply_text == "PRECONDITION_FAILED - " + detail.format(q=resource)


def test_redeclare_with_another_ttl_is_inequivalent(amqp_url: str) -> None:
    resource = f"queue 'q' in vhost '{vhost_of(amqp_url)}'"
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("q", arguments={"x-message-ttl": 1000})
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.queue_declare("q", arguments={"x-message-ttl": 2000})
        assert info.value.reply_text == (
            f"PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for {resource}: "
            "received '2000' but current is '1000'"
        )
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.queue_declare("q")
        assert info.value.reply_text == (
            f"PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for {resource}: "
            "received none but current is the value '1000' of type 'signedint'"
        )


def test_unused_queue_expires(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare("expiring", arguments={"x-expires": 50})
        wait_until(lambda: _gone(channel, "expiring"))


def test_consumer_keeps_an_expiring_queue_until_it_cancels(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare("kept", arguments={"x-expires": 50})
        tag = channel.basic_consume("kept", lambda *args: None)
        # while consumed, mandatory publishes keep being routed (the timer is not running)
        for _ in range(5):
            assert not _gone(channel, "kept")
            connection.process_data_events(0.03)
        channel.basic_cancel(tag)
        wait_until(lambda: _gone(channel, "kept"))
