# The first end-to-end slice with pika's BlockingConnection against a broker in a thread.
from __future__ import annotations

import pika
import pika.exceptions
import pytest
from amqp_clients import connect


def test_declare_publish_get_ack(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        queue = channel.queue_declare("work").method.queue
        channel.basic_publish("", queue, b"hello", pika.BasicProperties(content_type="text/plain"))
        method, properties, body = channel.basic_get(queue)
        assert body == b"hello"
        assert properties.content_type == "text/plain"
        assert method.redelivered is False
        channel.basic_ack(method.delivery_tag)
        assert channel.queue_declare("work", passive=True).method.message_count == 0


def test_consume_and_ack_removes_message(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("jobs")
        for n in range(3):
            channel.basic_publish("", "jobs", str(n).encode())
        received = []
        for method, _properties, body in channel.consume("jobs", inactivity_timeout=2):
            assert method is not None
            received.append(body)
            channel.basic_ack(method.delivery_tag)
            if len(received) == 3:
                break
        channel.cancel()
        assert received == [b"0", b"1", b"2"]
        assert channel.queue_declare("jobs", passive=True).method.message_count == 0


def test_unacked_message_is_requeued_redelivered_when_connection_closes(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("requeue-me")
        channel.basic_publish("", "requeue-me", b"once")
        method, _properties, _body = channel.basic_get("requeue-me")
        assert method.redelivered is False
    with connect(amqp_url) as connection:
        channel = connection.channel()
        method, _properties, body = channel.basic_get("requeue-me")
        assert body == b"once"
        assert method.redelivered is True


def test_passive_declare_of_missing_queue_closes_channel_404(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.queue_declare("nope", passive=True)
        assert info.value.reply_code == 404
        assert (
            info.value.reply_text
            == "NOT_FOUND - no queue 'nope' in vhost '" + (amqp_url.rsplit("/", 1)[1]) + "'"
        )
