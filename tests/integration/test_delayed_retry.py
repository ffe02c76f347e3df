# The delayed-retry pattern end to end: a worker rejects a message, the work queue dead-letters
# it to a wait queue whose TTL dead-letters it back, and x-death counts the attempts. Once with
# pika, once with kombu (as a Celery-style application declares it).
from __future__ import annotations

from typing import Any

import kombu
import kombu.message
import pika
from amqp_clients import connect, wait_until

WORK_ARGS = {"x-dead-letter-exchange": "retry"}
WAIT_ARGS = {"x-message-ttl": 20, "x-dead-letter-exchange": "work"}


def _attempts(headers: dict[str, Any] | None) -> int:
    """Failed attempts so far: the count of the work queue's `rejected` x-death entry."""
    for death in (headers or {}).get("x-death", []):
        if death["queue"] == "work" and death["reason"] == "rejected":
            return int(death["count"])
    return 0


def test_delayed_retry_with_pika(amqp_url: str) -> None:
    seen: list[int] = []
    done: list[bytes] = []
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.exchange_declare("work", "direct")
        channel.exchange_declare("retry", "direct")
        channel.queue_declare("work", arguments=WORK_ARGS)
        channel.queue_declare("work.wait", arguments=WAIT_ARGS)
        channel.queue_bind("work", "work", "task")
        channel.queue_bind("work.wait", "retry", "task")

        def worker(ch: Any, method: Any, properties: pika.BasicProperties, body: bytes) -> None:
            attempts = _attempts(properties.headers)
            seen.append(attempts)
            if attempts < 3:
                ch.basic_reject(method.delivery_tag, requeue=False)  # try again later
            else:
                ch.basic_ack(method.delivery_tag)
                done.append(body)

        channel.basic_consume("work", worker)
        channel.basic_publish("work", "task", b"flaky job", pika.BasicProperties(delivery_mode=2))
        wait_until(lambda: (connection.process_data_events(0.01), done)[1] != [])
    assert done == [b"flaky job"]
    assert seen == [0, 1, 2, 3]


def test_delayed_retry_with_kombu(amqp_url: str) -> None:
    work_exchange = kombu.Exchange("work", type="direct", durable=False)
    retry_exchange = kombu.Exchange("retry", type="direct", durable=False)
    work = kombu.Queue(
        "work", work_exchange, routing_key="task", durable=False, queue_arguments=WORK_ARGS
    )
    wait = kombu.Queue(
        "work.wait", retry_exchange, routing_key="task", durable=False, queue_arguments=WAIT_ARGS
    )
    seen: list[int] = []
    done: list[Any] = []
    with kombu.Connection(amqp_url) as connection:
        channel = connection.default_channel
        wait.bind(channel).declare()
        producer = kombu.Producer(channel, exchange=work_exchange)
        producer.publish({"job": 1}, routing_key="task", serializer="json", declare=[work])

        def on_message(body: Any, message: kombu.message.Message) -> None:
            attempts = _attempts(message.headers)
            seen.append(attempts)
            if attempts < 2:
                message.reject(requeue=False)
            else:
                message.ack()
                done.append(body)

        with kombu.Consumer(connection, queues=[work], callbacks=[on_message], accept=["json"]):
            while not done:
                connection.drain_events(timeout=5)
        message = kombu.Queue("work.wait", channel=channel).get()
        assert message is None  # nothing left waiting
    assert done == [{"job": 1}]
    assert seen == [0, 1, 2]
