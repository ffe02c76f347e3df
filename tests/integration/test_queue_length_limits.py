# Length limits through pika: x-max-length and x-max-length-bytes with each x-overflow mode,
# counted on ready messages; reject-publish answers a confirming publisher with basic.nack.
from __future__ import annotations

import pika
import pika.exceptions
import pytest
from amqp_clients import connect, ready_count, vhost_of
from pika.adapters.blocking_connection import BlockingChannel


def _drain(channel: BlockingChannel, queue: str) -> list[bytes]:
    bodies = []
    while True:
        method, _properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return bodies
        bodies.append(body)


def test_drop_head_keeps_the_newest(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("bounded", arguments={"x-max-length": 2})
        for n in range(5):
            channel.basic_publish("", "bounded", str(n).encode())
        assert _drain(channel, "bounded") == [b"3", b"4"]


def test_max_length_bytes_counts_bodies(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("bytes", arguments={"x-max-length-bytes": 10})
        for body in (b"aaaa", b"bbbb", b"cccc"):
            channel.basic_publish("", "bytes", body)
        assert _drain(channel, "bytes") == [b"bbbb", b"cccc"]


def test_unacked_messages_are_not_counted(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("ready-only", arguments={"x-max-length": 1})
        channel.basic_publish("", "ready-only", b"taken")
        method, _properties, _body = channel.basic_get("ready-only")
        channel.basic_publish("", "ready-only", b"waiting")
        assert ready_count(channel, "ready-only") == 1
        channel.basic_ack(method.delivery_tag)
        assert _drain(channel, "ready-only") == [b"waiting"]


def test_reject_publish_nacks_a_confirming_publisher(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare("full", arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
        channel.basic_publish("", "full", b"fits")
        with pytest.raises(pika.exceptions.NackError):
            channel.basic_publish("", "full", b"refused")
        assert _drain(channel, "full") == [b"fits"]
        channel.basic_publish("", "full", b"room again")
        assert _drain(channel, "full") == [b"room again"]


def test_reject_publish_without_confirms_drops_silently(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("full", arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
        channel.basic_publish("", "full", b"fits")
        channel.basic_publish("", "full", b"dropped")
        assert _drain(channel, "full") == [b"fits"]


def test_reject_publish_dlx_dead_letters_the_refused_message(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare("overflowed")
        channel.queue_declare(
            "full",
            arguments={
                "x-max-length": 1,
                "x-overflow": "reject-publish-dlx",
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": "overflowed",
            },
        )
        channel.basic_publish("", "full", b"fits")
        with pytest.raises(pika.exceptions.NackError):
            channel.basic_publish("", "full", b"refused")
        _method, properties, body = channel.basic_get("overflowed", auto_ack=True)
        assert body == b"refused"
        death = properties.headers["x-death"][0]
        assert (death["reason"], death["queue"], death["count"]) == ("maxlen", "full", 1)


def test_drop_head_dead_letters_with_reason_maxlen(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("dropped")
        channel.queue_declare(
            "bounded",
            arguments={
                "x-max-length": 1,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": "dropped",
            },
        )
        channel.basic_publish("", "bounded", b"first")
        channel.basic_publish("", "bounded", b"second")
        _method, properties, body = channel.basic_get("dropped", auto_ack=True)
        assert body == b"first"
        assert properties.headers["x-first-death-reason"] == "maxlen"
        assert _drain(channel, "bounded") == [b"second"]


@pytest.mark.parametrize(
    ("arguments", "term"),
    [
        ({"x-max-length": -1}, "'x-max-length' for {q}: {{value_negative,-1}}"),
        (
            {"x-max-length-bytes": "10"},
            "'x-max-length-bytes' for {q}: \"expected integer, got longstr\"",
        ),
        ({"x-overflow": "bogus"}, "'x-overflow' for {q}: invalid_overflow"),
    ],
)
def test_invalid_limit_arguments_406(
    amqp_url: str, arguments: dict[str, object], term: str
) -> None:
    resource = f"queue 'q' in vhost '{vhost_of(amqp_url)}'"
    with connect(amqp_url) as connection:
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.queue_declare("q", arguments=arguments)
    assert info.value.reply_code == 406
    assert info.value.reply_text == "PRECONDITION_FAILED - invalid arg " + term.format(q=resource)


def test_requeue_past_the_limit_drops_the_head(amqp_url: str) -> None:
    # 3.10.8 (recorded): max-length 1, A delivered, B published, A nacked with requeue:
    # A goes back to the head and is dropped (dead-lettered as maxlen), B stays
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("dropped")
        channel.queue_declare(
            "bounded",
            arguments={
                "x-max-length": 1,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": "dropped",
            },
        )
        channel.basic_publish("", "bounded", b"A")
        method, _properties, _body = channel.basic_get("bounded")
        channel.basic_publish("", "bounded", b"B")
        channel.basic_nack(method.delivery_tag, requeue=True)
        assert _drain(channel, "bounded") == [b"B"]
        _method, properties, body = channel.basic_get("dropped", auto_ack=True)
        assert body == b"A"
        assert properties.headers["x-death"][0]["reason"] == "maxlen"
