# Priority queues (x-max-priority): higher priorities first, FIFO within one priority, priorities
# above the maximum treated as the maximum, and RabbitMQ 3.10's validation of the argument.
from __future__ import annotations

from typing import Any

import pika
import pika.exceptions
import pytest
from amqp_clients import connect, vhost_of
from pika.adapters.blocking_connection import BlockingChannel


def _publish(channel: BlockingChannel, queue: str, body: bytes, priority: int | None) -> None:
    channel.basic_publish("", queue, body, pika.BasicProperties(priority=priority))


def _drain(channel: BlockingChannel, queue: str) -> list[bytes]:
    bodies: list[bytes] = []
    while True:
        method, _properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return bodies
        bodies.append(body)


def test_higher_priority_first_fifo_within_priority_and_cap_at_max(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("prio", arguments={"x-max-priority": 10})
        for body, priority in [
            (b"low-1", 1),
            (b"none-1", None),
            (b"top-1", 10),
            (b"mid-1", 5),
            (b"over", 200),
            (b"mid-2", 5),
            (b"top-2", 10),
            (b"low-2", 1),
            (b"zero", 0),
        ]:
            _publish(channel, "prio", body, priority)
        assert _drain(channel, "prio") == [
            b"top-1",
            b"over",
            b"top-2",
            b"mid-1",
            b"mid-2",
            b"low-1",
            b"low-2",
            b"none-1",
            b"zero",
        ]


def test_priority_order_also_applies_to_consumers(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("prio-consume", arguments={"x-max-priority": 3})
        for body, priority in [(b"a", 0), (b"b", 3), (b"c", 2), (b"d", 3)]:
            _publish(channel, "prio-consume", body, priority)
        received = []
        for method, _properties, body in channel.consume("prio-consume", inactivity_timeout=2):
            assert method is not None
            received.append(body)
            channel.basic_ack(method.delivery_tag)
            if len(received) == 4:
                break
        channel.cancel()
        assert received == [b"b", b"d", b"c", b"a"]


def test_requeued_message_keeps_its_priority_position(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("prio-requeue", arguments={"x-max-priority": 5})
        for body, priority in [(b"low", 1), (b"high-1", 5), (b"high-2", 5)]:
            _publish(channel, "prio-requeue", body, priority)
        method, _properties, body = channel.basic_get("prio-requeue")
        assert method is not None
        assert body == b"high-1"
        channel.basic_nack(method.delivery_tag, requeue=True)
        assert _drain(channel, "prio-requeue") == [b"high-1", b"high-2", b"low"]


def test_queue_without_max_priority_ignores_priorities(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("flat")
        for body, priority in [(b"a", 1), (b"b", 9), (b"c", 5)]:
            _publish(channel, "flat", body, priority)
        assert _drain(channel, "flat") == [b"a", b"b", b"c"]


def test_max_priority_zero_is_accepted_and_fifo(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("prio-zero", arguments={"x-max-priority": 0})
        for body, priority in [(b"a", 1), (b"b", 9)]:
            _publish(channel, "prio-zero", body, priority)
        assert _drain(channel, "prio-zero") == [b"a", b"b"]


@pytest.mark.parametrize("value", [256, -1, "x"], ids=["too-large", "negative", "string"])
def test_invalid_max_priority_is_406(amqp_url: str, value: Any) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.queue_declare("bad-prio", arguments={"x-max-priority": value})
    assert info.value.reply_code == 406
    assert info.value.reply_text.startswith(
        f"PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue 'bad-prio' in vhost "
        f"'{vhost_of(amqp_url)}'"
    )


def test_invalid_max_priority_does_not_create_the_queue(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker):
            channel.queue_declare("bad-prio", arguments={"x-max-priority": 1000})
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.queue_declare("bad-prio", passive=True)
    assert info.value.reply_code == 404
