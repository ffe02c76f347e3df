# Cookbook (docs/testing.md): testing code that uses pika, with the pytest plugin's fixtures.
# The application code comes first, then its tests; everything here runs in CI.
from __future__ import annotations

import json
import threading
from typing import Any

import pika
import pika.exceptions

from amqp_broker.testing import BrokerThread

# ---- the application code under test ----------------------------------------------------------


def publish_order(url: str, order: dict[str, Any]) -> None:
    with pika.BlockingConnection(pika.URLParameters(url)) as connection:
        channel = connection.channel()
        channel.exchange_declare("orders", "topic", durable=True)
        channel.basic_publish(
            "orders",
            f"order.{order['kind']}",
            json.dumps(order).encode(),
            pika.BasicProperties(content_type="application/json", delivery_mode=2),
        )


def run_worker(url: str, stop: threading.Event, done: list[bytes]) -> None:
    """Consume 'jobs' and ack each after handling it; reconnect when the connection fails."""
    while not stop.is_set():
        try:
            with pika.BlockingConnection(pika.URLParameters(url)) as connection:
                channel = connection.channel()
                channel.queue_declare("jobs", durable=True)
                for method, _properties, body in channel.consume("jobs", inactivity_timeout=0.05):
                    if stop.is_set():
                        break
                    if method is not None:
                        done.append(body)
                        channel.basic_ack(method.delivery_tag)
        except pika.exceptions.AMQPConnectionError:
            continue  # the broker went away: connect again


# ---- the tests --------------------------------------------------------------------------------


def test_order_is_published_to_the_topic_exchange(
    amqp_broker: BrokerThread, amqp_vhost: str, amqp_url: str
) -> None:
    amqp_broker.record_publishes("orders", vhost=amqp_vhost)

    publish_order(amqp_url, {"kind": "book", "id": 7})

    [message] = amqp_broker.published("orders", vhost=amqp_vhost)
    assert message.routing_key == "order.book"
    assert json.loads(message.body) == {"kind": "book", "id": 7}
    assert message.properties["delivery_mode"] == 2
    assert message.routed_to == ()  # nobody is bound yet: the publish went nowhere


def test_order_reaches_a_bound_queue(
    amqp_broker: BrokerThread, amqp_vhost: str, amqp_url: str
) -> None:
    with pika.BlockingConnection(pika.URLParameters(amqp_url)) as connection:
        channel = connection.channel()
        channel.exchange_declare("orders", "topic", durable=True)
        channel.queue_declare("books")
        channel.queue_bind("books", "orders", "order.book")

    publish_order(amqp_url, {"kind": "book", "id": 1})
    publish_order(amqp_url, {"kind": "pen", "id": 2})

    assert amqp_broker.queue("books", vhost=amqp_vhost).messages_ready == 1
    [message] = amqp_broker.peek("books", vhost=amqp_vhost)  # still in the queue afterwards
    assert json.loads(message.body)["id"] == 1


def test_worker_acks_what_it_handles_and_survives_a_forced_close(
    amqp_broker: BrokerThread, amqp_vhost: str, amqp_url: str
) -> None:
    stop, done = threading.Event(), list[bytes]()
    worker = threading.Thread(target=run_worker, args=(amqp_url, stop, done))
    worker.start()
    try:
        amqp_broker.wait_for(amqp_broker.consumer_on("jobs", vhost=amqp_vhost))
        amqp_broker.publish_to_queue("jobs", b"first", vhost=amqp_vhost)
        amqp_broker.wait_for(amqp_broker.acked("jobs", 1, vhost=amqp_vhost))

        # Close the worker's connection as an operator would (320 CONNECTION_FORCED) ...
        [connection] = amqp_broker.connections(vhost=amqp_vhost)
        amqp_broker.close_connection(connection)
        # ... and it comes back, consumes and acks the next job.
        amqp_broker.wait_for(
            lambda: any(
                c.connection != connection.number for c in amqp_broker.consumers(amqp_vhost)
            )
        )
        amqp_broker.publish_to_queue("jobs", b"second", vhost=amqp_vhost)
        amqp_broker.wait_for(lambda: done == [b"first", b"second"])
        amqp_broker.wait_for(amqp_broker.queue_empty("jobs", vhost=amqp_vhost))
    finally:
        stop.set()
        worker.join()
