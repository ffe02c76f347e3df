# The queue features through kombu (over py-amqp), declared the way Celery-style applications do
# it with queue_arguments and consumer_arguments: TTL, x-expires, length limits, dead-lettering,
# consumer priorities and single active consumer.
from __future__ import annotations

from typing import Any

import amqp.exceptions
import kombu
import kombu.message
import pytest
from amqp_clients import wait_until


def _queue(name: str, **arguments: Any) -> kombu.Queue:
    return kombu.Queue(name, routing_key=name, durable=False, queue_arguments=arguments or None)


def _count(channel: Any, name: str) -> int:
    return int(channel.queue_declare(name, passive=True).message_count)


def test_message_ttl_and_expiration(amqp_url: str) -> None:
    with kombu.Connection(amqp_url) as connection:
        channel = connection.default_channel
        ttl = _queue("ttl", **{"x-message-ttl": 20}).bind(channel)
        ttl.declare()
        producer = kombu.Producer(channel)
        producer.publish({"a": 1}, routing_key="ttl", serializer="json")
        wait_until(lambda: _count(channel, "ttl") == 0)
        plain = _queue("plain").bind(channel)
        plain.declare()
        producer.publish({"a": 2}, routing_key="plain", serializer="json", expiration=0.02)
        producer.publish({"a": 3}, routing_key="plain", serializer="json")
        wait_until(lambda: _count(channel, "plain") == 1)
        message = plain.get(no_ack=True)
        assert message is not None and message.decode() == {"a": 3}


def test_unused_queue_expires(amqp_url: str) -> None:
    with kombu.Connection(amqp_url) as connection:
        channel = connection.default_channel
        _queue("short-lived", **{"x-expires": 30}).bind(channel).declare()

        def gone() -> bool:
            probe = connection.channel()
            try:
                probe.queue_declare("short-lived", passive=True)
            except amqp.exceptions.NotFound:
                return True
            probe.close()
            return False

        wait_until(gone, step=0.1)  # each probe is a use: wait longer than x-expires between


def test_length_limits(amqp_url: str) -> None:
    with kombu.Connection(amqp_url, transport_options={"confirm_publish": True}) as connection:
        channel = connection.default_channel
        producer = kombu.Producer(channel)
        bounded = _queue("bounded", **{"x-max-length": 1}).bind(channel)
        bounded.declare()
        for n in range(3):
            producer.publish(n, routing_key="bounded", serializer="json")
        message = bounded.get(no_ack=True)
        assert message is not None and message.decode() == 2
        full = _queue("full", **{"x-max-length": 1, "x-overflow": "reject-publish"}).bind(channel)
        full.declare()
        producer.publish("fits", routing_key="full", serializer="json")
        with pytest.raises(amqp.exceptions.MessageNacked):
            producer.publish("refused", routing_key="full", serializer="json")


def test_rejected_message_is_dead_lettered(amqp_url: str) -> None:
    with kombu.Connection(amqp_url) as connection:
        channel = connection.default_channel
        dead = _queue("dead").bind(channel)
        dead.declare()
        work = _queue(
            "work", **{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dead"}
        ).bind(channel)
        work.declare()
        kombu.Producer(channel).publish({"job": 1}, routing_key="work", serializer="json")
        message = work.get()
        assert message is not None
        message.reject(requeue=False)
        dead_message = dead.get(no_ack=True)
    assert dead_message is not None
    assert dead_message.decode() == {"job": 1}
    assert dead_message.content_type == "application/json"
    assert dead_message.headers["x-death"][0]["reason"] == "rejected"
    assert dead_message.headers["x-first-death-queue"] == "work"


def test_consumer_priority(amqp_url: str) -> None:
    got: list[str] = []
    held: list[kombu.message.Message] = []
    with kombu.Connection(amqp_url) as connection:
        channel = connection.default_channel
        _queue("work").bind(channel).declare()

        def on_low(body: Any, message: kombu.message.Message) -> None:
            got.append("low")
            message.ack()

        def on_high(body: Any, message: kombu.message.Message) -> None:
            got.append("high")
            held.append(message)  # not acked: the high-priority consumer stays full

        low = kombu.Consumer(
            connection.channel(),
            queues=[_queue("work")],
            callbacks=[on_low],
            accept=["json"],
            prefetch_count=1,
        )
        high_queue = kombu.Queue(
            "work", routing_key="work", durable=False, consumer_arguments={"x-priority": 10}
        )
        high = kombu.Consumer(
            connection.channel(),
            queues=[high_queue],
            callbacks=[on_high],
            accept=["json"],
            prefetch_count=1,
        )
        with low, high:
            producer = kombu.Producer(channel)
            for n in range(3):
                producer.publish(n, routing_key="work", serializer="json")
            while len(got) < 3:
                connection.drain_events(timeout=5)
            held[0].ack()
    assert got == ["high", "low", "low"]


def test_single_active_consumer(amqp_url: str) -> None:
    got: list[str] = []
    arguments = {"x-single-active-consumer": True}
    with kombu.Connection(amqp_url) as connection:
        channel = connection.default_channel
        _queue("sac", **arguments).bind(channel).declare()

        def receiver(name: str) -> Any:
            def on_message(body: Any, message: kombu.message.Message) -> None:
                got.append(name)
                message.ack()

            return on_message

        first = kombu.Consumer(
            connection.channel(),
            queues=[_queue("sac", **arguments)],
            callbacks=[receiver("first")],
            accept=["json"],
        )
        second = kombu.Consumer(
            connection.channel(),
            queues=[_queue("sac", **arguments)],
            callbacks=[receiver("second")],
            accept=["json"],
        )
        with first, second:
            producer = kombu.Producer(channel)
            for n in range(2):
                producer.publish(n, routing_key="sac", serializer="json")
            while len(got) < 2:
                connection.drain_events(timeout=5)
            first.cancel()
            producer.publish(2, routing_key="sac", serializer="json")
            while len(got) < 3:
                connection.drain_events(timeout=5)
    assert got == ["first", "first", "second"]
