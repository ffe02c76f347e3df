# kombu over py-amqp: declaring entities, producing and draining with a Consumer, and a simple
# queue's get/ack, as a Celery-style application would use the broker.
from __future__ import annotations

from typing import Any

import kombu
import kombu.message
import pytest
from kombu.simple import SimpleQueue


def test_producer_and_consumer_through_a_direct_exchange(amqp_url: str) -> None:
    exchange = kombu.Exchange("kombu-direct", type="direct", durable=False)
    queue = kombu.Queue("kombu-work", exchange, routing_key="work", durable=False)
    received: list[tuple[Any, Any]] = []
    with kombu.Connection(amqp_url) as connection:
        producer = kombu.Producer(connection.default_channel, exchange=exchange)
        for n in range(5):
            producer.publish(
                {"n": n},
                routing_key="work",
                serializer="json",
                declare=[queue],
                headers={"attempt": 1},
            )

        def on_message(body: Any, message: kombu.message.Message) -> None:
            received.append((body, message.headers.get("attempt")))
            message.ack()

        with kombu.Consumer(connection, queues=[queue], callbacks=[on_message], accept=["json"]):
            while len(received) < 5:
                connection.drain_events(timeout=2)
    assert received == [({"n": n}, 1) for n in range(5)]


def test_topic_exchange_routes_by_pattern(amqp_url: str) -> None:
    exchange = kombu.Exchange("kombu-topic", type="topic", durable=False)
    errors = kombu.Queue("kombu-errors", exchange, routing_key="*.error", durable=False)
    everything = kombu.Queue("kombu-all", exchange, routing_key="#", durable=False)
    with kombu.Connection(amqp_url) as connection:
        producer = kombu.Producer(connection.default_channel, exchange=exchange)
        for key in ("app.error", "app.info", "db.error"):
            producer.publish(key, routing_key=key, declare=[errors, everything])
        channel = connection.default_channel
        bound_errors = errors(channel)
        bound_all = everything(channel)
        error_bodies = []
        while (message := bound_errors.get(no_ack=True)) is not None:
            error_bodies.append(message.payload)
        all_bodies = []
        while (message := bound_all.get(no_ack=True)) is not None:
            all_bodies.append(message.payload)
    assert error_bodies == ["app.error", "db.error"]
    assert all_bodies == ["app.error", "app.info", "db.error"]


def test_simple_queue_put_get_and_requeue(amqp_url: str) -> None:
    with kombu.Connection(amqp_url) as connection:
        simple: SimpleQueue = connection.SimpleQueue("kombu-simple")
        try:
            # One message at a time: SimpleQueue consumes, so later messages may already sit in
            # its client-side buffer when one is requeued.
            simple.put({"hello": "world"})
            first = simple.get(timeout=2)
            assert first.payload == {"hello": "world"}
            first.requeue()
            again = simple.get(timeout=2)
            assert again.payload == {"hello": "world"}
            assert again.delivery_info["redelivered"] is True
            again.ack()
            simple.put({"hello": "again"})
            second = simple.get(timeout=2)
            assert second.payload == {"hello": "again"}
            second.ack()
            with pytest.raises(simple.Empty):
                simple.get(block=False)
        finally:
            simple.close()


def test_unacked_kombu_message_is_redelivered_after_reconnect(amqp_url: str) -> None:
    queue = kombu.Queue("kombu-redeliver", durable=False, auto_delete=False)
    with kombu.Connection(amqp_url) as connection:
        producer = kombu.Producer(connection.default_channel)
        producer.publish("payload", routing_key="kombu-redeliver", declare=[queue])
        message = queue(connection.default_channel).get()
        assert message is not None
        assert message.delivery_info["redelivered"] is False
    with kombu.Connection(amqp_url) as connection:
        message = queue(connection.default_channel).get()
        assert message is not None
        assert message.payload == "payload"
        assert message.delivery_info["redelivered"] is True
        message.ack()
