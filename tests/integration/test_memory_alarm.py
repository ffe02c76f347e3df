# RabbitMQ's memory alarm: publishers are blocked above the watermark, consumers keep draining.
from __future__ import annotations

import time
from collections.abc import Callable

import pika

from amqp_broker import BrokerConfig
from amqp_broker.testing import BrokerThread


def _wait(connection: pika.BlockingConnection, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        connection.process_data_events(time_limit=0.05)


def test_publisher_is_blocked_above_watermark_and_unblocked_once_consumers_drain() -> None:
    with BrokerThread(BrokerConfig(port=0, memory_high_watermark=1000)) as broker:
        publisher = pika.BlockingConnection(pika.URLParameters(broker.url))
        events: list[str] = []
        publisher.add_on_connection_blocked_callback(lambda *_: events.append("blocked"))
        publisher.add_on_connection_unblocked_callback(lambda *_: events.append("unblocked"))
        channel = publisher.channel()
        channel.queue_declare("big")
        channel.basic_publish("", "big", b"x" * 2000)
        _wait(publisher, lambda: events == ["blocked"])
        assert broker.call(lambda: broker.broker.publishers_blocked) is True

        consumer = pika.BlockingConnection(pika.URLParameters(broker.url))
        consumer_channel = consumer.channel()
        method, _properties, body = consumer_channel.basic_get("big")
        assert len(body) == 2000
        consumer_channel.basic_ack(method.delivery_tag)
        consumer.process_data_events(time_limit=0)
        _wait(publisher, lambda: events == ["blocked", "unblocked"])
        # The publisher is read again: its commands are answered.
        assert channel.queue_declare("big", passive=True).method.message_count == 0
        consumer.close()
        publisher.close()


def test_consumer_only_connection_is_never_blocked() -> None:
    with BrokerThread(BrokerConfig(port=0, memory_high_watermark=10)) as broker:
        publisher = pika.BlockingConnection(pika.URLParameters(broker.url))
        channel = publisher.channel()
        channel.queue_declare("q")
        channel.basic_publish("", "q", b"x" * 100)
        _wait(publisher, lambda: broker.call(lambda: broker.broker.publishers_blocked))
        consumer = pika.BlockingConnection(pika.URLParameters(broker.url))
        # The consumer keeps working while the alarm is on.
        _method, _properties, body = consumer.channel().basic_get("q", auto_ack=True)
        assert body == b"x" * 100
        consumer.close()
        publisher.close()
