# Dead-lettering through pika: reject/nack with requeue=false and expiry republish to the
# dead-letter exchange with the x-death header RabbitMQ 3.10 writes; other properties stay;
# a missing dead-letter exchange drops the message; automatic cycles are broken.
from __future__ import annotations

import datetime
import time

import pika
from amqp_clients import connect, ready_count, wait_until
from pika.adapters.blocking_connection import BlockingChannel


def _dead_letter_pair(channel: BlockingChannel, **extra: object) -> None:
    channel.exchange_declare("dlx", "fanout")
    channel.queue_declare("dead")
    channel.queue_bind("dead", "dlx")
    channel.queue_declare("work", arguments={"x-dead-letter-exchange": "dlx", **extra})


def test_rejected_message_is_dead_lettered_with_x_death(amqp_url: str) -> None:
    before = int(time.time())
    with connect(amqp_url) as connection:
        channel = connection.channel()
        _dead_letter_pair(channel)
        channel.exchange_declare("jobs", "direct")
        channel.queue_bind("work", "jobs", "job.key")
        channel.basic_publish(
            "jobs",
            "job.key",
            b"payload",
            pika.BasicProperties(
                content_type="application/json",
                correlation_id="c-1",
                message_id="m-1",
                headers={"app": "kept"},
                delivery_mode=2,
            ),
        )
        method, _properties, _body = channel.basic_get("work")
        channel.basic_reject(method.delivery_tag, requeue=False)
        method, properties, body = channel.basic_get("dead", auto_ack=True)
    assert body == b"payload"
    assert (method.exchange, method.routing_key, method.redelivered) == ("dlx", "job.key", False)
    assert properties.content_type == "application/json"
    assert properties.correlation_id == "c-1"
    assert properties.message_id == "m-1"
    assert properties.delivery_mode == 2
    headers = properties.headers
    assert headers["app"] == "kept"
    assert headers["x-first-death-reason"] == "rejected"
    assert headers["x-first-death-queue"] == "work"
    assert headers["x-first-death-exchange"] == "jobs"
    [death] = headers["x-death"]
    assert death["count"] == 1
    assert death["reason"] == "rejected"
    assert death["queue"] == "work"
    assert death["exchange"] == "jobs"
    assert death["routing-keys"] == ["job.key"]
    stamp = death["time"]
    assert isinstance(stamp, datetime.datetime)
    assert before - 1 <= stamp.timestamp() <= time.time() + 1
    assert list(death) == ["count", "reason", "queue", "time", "exchange", "routing-keys"]


def test_nack_multiple_without_requeue_dead_letters_each(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        _dead_letter_pair(channel)
        for n in range(3):
            channel.basic_publish("", "work", str(n).encode())
        last = None
        for _ in range(3):
            last, _properties, _body = channel.basic_get("work")
        channel.basic_nack(last.delivery_tag, multiple=True, requeue=False)
        bodies = [channel.basic_get("dead", auto_ack=True)[2] for _ in range(3)]
    assert bodies == [b"0", b"1", b"2"]


def test_requeue_true_does_not_dead_letter(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        _dead_letter_pair(channel)
        channel.basic_publish("", "work", b"back")
        method, _properties, _body = channel.basic_get("work")
        channel.basic_nack(method.delivery_tag, requeue=True)
        assert ready_count(channel, "dead") == 0
        assert ready_count(channel, "work") == 1


def test_expired_message_is_dead_lettered_without_its_expiration(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        _dead_letter_pair(channel)
        channel.basic_publish("", "work", b"late", pika.BasicProperties(expiration="20"))
        wait_until(lambda: ready_count(channel, "dead") == 1)
        _method, properties, body = channel.basic_get("dead", auto_ack=True)
    assert body == b"late"
    assert properties.expiration is None
    death = properties.headers["x-death"][0]
    assert death["reason"] == "expired"
    assert death["original-expiration"] == "20"


def test_dead_letter_routing_key_replaces_the_routing_key(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("parking")
        channel.queue_declare(
            "work",
            arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "parking"},
        )
        channel.basic_publish("", "work", b"x", pika.BasicProperties(headers={"CC": ["cc"]}))
        method, _properties, _body = channel.basic_get("work")
        channel.basic_reject(method.delivery_tag, requeue=False)
        method, properties, _body = channel.basic_get("parking", auto_ack=True)
    assert method.routing_key == "parking"
    assert "CC" not in properties.headers
    assert properties.headers["x-death"][0]["routing-keys"] == ["work", "cc"]


def test_missing_dead_letter_exchange_drops_the_message(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("work", arguments={"x-dead-letter-exchange": "missing"})
        channel.basic_publish("", "work", b"x")
        method, _properties, _body = channel.basic_get("work")
        channel.basic_reject(method.delivery_tag, requeue=False)
        assert ready_count(channel, "work") == 0


def test_expiry_cycle_back_to_the_same_queue_is_dropped(amqp_url: str) -> None:
    # dead-lettered to the default exchange with its own name: it would come straight back
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("loop", arguments={"x-message-ttl": 10, "x-dead-letter-exchange": ""})
        channel.basic_publish("", "loop", b"x")
        wait_until(lambda: ready_count(channel, "loop") == 0)
        channel.queue_declare("probe", arguments={"x-message-ttl": 10})
        channel.basic_publish("", "probe", b"")
        wait_until(lambda: ready_count(channel, "probe") == 0)
        assert ready_count(channel, "loop") == 0


def test_rejected_message_may_come_back_to_its_own_queue(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("self", arguments={"x-dead-letter-exchange": ""})
        channel.basic_publish("", "self", b"again")
        for expected_count in (1, 2):
            method, _properties, _body = channel.basic_get("self")
            channel.basic_reject(method.delivery_tag, requeue=False)
            _method, properties, _body = channel.basic_get("self", auto_ack=False)
            assert properties.headers["x-death"][0]["count"] == expected_count
            channel.basic_nack(_method.delivery_tag, requeue=True)


def test_without_dead_letter_routing_key_cc_and_bcc_keys_route_the_copy(amqp_url: str) -> None:
    # RabbitMQ keeps a message's routing keys (its own, CC, BCC) and dead-letters with all of
    # them; x-death's routing-keys lists the CC keys (BCC never reaches a queue)
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.exchange_declare("jobs", "direct")
        channel.exchange_declare("dlx", "direct")
        channel.queue_declare("work", arguments={"x-dead-letter-exchange": "dlx"})
        channel.queue_bind("work", "jobs", "a")
        for key in ("a", "b", "c"):
            channel.queue_declare(f"dead-{key}")
            channel.queue_bind(f"dead-{key}", "dlx", key)
        headers = {"CC": ["b"], "BCC": ["c"]}
        channel.basic_publish("jobs", "a", b"x", pika.BasicProperties(headers=headers))
        method, _properties, _body = channel.basic_get("work")
        channel.basic_reject(method.delivery_tag, requeue=False)
        for key in ("a", "b", "c"):
            _method, properties, body = channel.basic_get(f"dead-{key}", auto_ack=True)
            assert body == b"x"
            assert properties.headers["x-death"][0]["routing-keys"] == ["a", "b"]
            assert "BCC" not in properties.headers
