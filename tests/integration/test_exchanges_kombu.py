# Exchanges through kombu's Exchange/Queue/Producer/Consumer API over py-amqp, including the
# header values pika cannot encode (floats) and auto-delete exchanges losing their last binding.
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import amqp.exceptions
import kombu
import pytest

pytestmark = pytest.mark.timeout(5)


@pytest.fixture
def connection(amqp_url: str) -> Iterator[kombu.Connection]:
    with kombu.Connection(amqp_url) as conn:
        conn.connect()
        yield conn


def _bodies(connection: kombu.Connection, queue: kombu.Queue) -> list[Any]:
    bound = queue(connection.default_channel)
    bodies = []
    while (message := bound.get(no_ack=True)) is not None:
        bodies.append(message.payload)
    return bodies


def test_topic_exchange_with_producer_and_consumer(connection: kombu.Connection) -> None:
    logs = kombu.Exchange("logs", type="topic", durable=False)
    errors = kombu.Queue("errors", logs, routing_key="*.error", durable=False)
    kernel = kombu.Queue("kernel", logs, routing_key="kern.#", durable=False)
    producer = connection.Producer()
    producer.publish("oops", exchange=logs, routing_key="kern.error", declare=[errors, kernel])
    producer.publish("boot", exchange=logs, routing_key="kern")
    producer.publish("hmm", exchange=logs, routing_key="app.warn")
    received: list[str] = []
    with connection.Consumer(
        [kernel], callbacks=[lambda body, m: (received.append(body), m.ack())]
    ):
        while len(received) < 2:
            connection.drain_events(timeout=2)
    assert received == ["oops", "boot"]
    assert _bodies(connection, errors) == ["oops"]


@pytest.mark.parametrize(
    ("arguments", "headers", "routed"),
    [
        ({"x-match": "all", "n": 1}, {"n": 1.0}, True),
        ({"x-match": "all", "n": 1.0}, {"n": 1}, True),
        ({"x-match": "all", "n": 1.5}, {"n": 1.5}, True),
        ({"x-match": "all", "n": 1}, {"n": 1.5}, False),
        ({"x-match": "all", "n": 1}, {"n": True}, False),
        ({"x-match": "all", "n": True}, {"n": 1.0}, False),
        ({"x-match": "any", "a": "x", "n": 2}, {"n": 2.0}, True),
    ],
)
def test_headers_numbers_compare_by_value_but_bool_is_never_a_number(
    connection: kombu.Connection, arguments: dict[str, Any], headers: dict[str, Any], routed: bool
) -> None:
    exchange = kombu.Exchange("h", type="headers", durable=False)
    queue = kombu.Queue("q", exchange, binding_arguments=arguments, durable=False)
    producer = connection.Producer()
    producer.publish("m", exchange=exchange, headers=headers, declare=[queue])
    assert _bodies(connection, queue) == (["m"] if routed else [])


def test_passive_declare_of_missing_exchange_raises_not_found(
    amqp_url: str, connection: kombu.Connection
) -> None:
    exchange = kombu.Exchange("missing", type="direct", passive=True)
    with pytest.raises(amqp.exceptions.NotFound) as info:
        exchange(connection.channel()).declare()
    assert info.value.reply_code == 404
    vhost = amqp_url.rsplit("/", 1)[1]
    assert info.value.reply_text == f"NOT_FOUND - no exchange 'missing' in vhost '{vhost}'"


def test_inequivalent_redeclare_raises_precondition_failed(
    amqp_url: str, connection: kombu.Connection
) -> None:
    kombu.Exchange("x", type="direct")(connection.channel()).declare()
    with pytest.raises(amqp.exceptions.PreconditionFailed) as info:
        kombu.Exchange("x", type="fanout")(connection.channel()).declare()
    assert info.value.reply_code == 406
    vhost = amqp_url.rsplit("/", 1)[1]
    assert info.value.reply_text == (
        f"PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'x' in vhost '{vhost}': "
        "received 'fanout' but current is 'direct'"
    )


def test_unknown_type_closes_connection_503(connection: kombu.Connection) -> None:
    with pytest.raises(amqp.exceptions.InvalidCommand) as info:
        kombu.Exchange("x", type="bogus")(connection.channel()).declare()
    assert info.value.reply_code == 503
    assert info.value.reply_text == "COMMAND_INVALID - unknown exchange type 'bogus'"


def test_alternate_exchange_catches_unroutable(connection: kombu.Connection) -> None:
    spill = kombu.Exchange("spill", type="fanout", durable=False)
    spilled = kombu.Queue("spilled", spill, durable=False)
    orders = kombu.Exchange(
        "orders", type="direct", durable=False, arguments={"alternate-exchange": "spill"}
    )
    known = kombu.Queue("known", orders, routing_key="known", durable=False)
    producer = connection.Producer()
    producer.publish("a", exchange=orders, routing_key="known", declare=[spilled, known])
    producer.publish("b", exchange=orders, routing_key="other")
    assert _bodies(connection, known) == ["a"]
    assert _bodies(connection, spilled) == ["b"]


def test_exchange_to_exchange_binding_with_kombu(connection: kombu.Connection) -> None:
    channel = connection.default_channel
    source = kombu.Exchange("source", type="topic", durable=False)(channel)
    destination = kombu.Exchange("destination", type="fanout", durable=False)(channel)
    source.declare()
    destination.declare()
    destination.bind_to(source, routing_key="a.#")
    queue = kombu.Queue("q", destination, durable=False)
    connection.Producer().publish("hit", exchange=source, routing_key="a.b", declare=[queue])
    connection.Producer().publish("miss", exchange=source, routing_key="b.a")
    assert _bodies(connection, queue) == ["hit"]
    destination.unbind_from(source, routing_key="a.#")
    connection.Producer().publish("after", exchange=source, routing_key="a.b")
    assert _bodies(connection, queue) == []


def test_auto_delete_exchange_goes_with_last_exchange_binding(
    connection: kombu.Connection,
) -> None:
    channel = connection.default_channel
    source = kombu.Exchange("source", type="fanout", durable=False, auto_delete=True)(channel)
    destination = kombu.Exchange("destination", type="fanout", durable=False)(channel)
    source.declare()
    destination.declare()
    destination.bind_to(source)
    destination.delete()
    with pytest.raises(amqp.exceptions.NotFound):
        kombu.Exchange("source", passive=True)(connection.channel()).declare()


def test_auto_delete_exchange_goes_when_exclusive_queue_owner_disconnects(amqp_url: str) -> None:
    exchange = kombu.Exchange("x", type="fanout", durable=False, auto_delete=True)
    with kombu.Connection(amqp_url) as owner:
        queue = kombu.Queue("mine", exchange, exclusive=True, durable=False)
        queue(owner.default_channel).declare()
        kombu.Exchange("x", passive=True)(owner.channel()).declare()
    with kombu.Connection(amqp_url) as other, pytest.raises(amqp.exceptions.NotFound):
        kombu.Exchange("x", passive=True)(other.channel()).declare()


def test_deleted_queue_loses_bindings_when_redeclared(connection: kombu.Connection) -> None:
    exchange = kombu.Exchange("x", type="direct", durable=False)
    queue = kombu.Queue("q", exchange, routing_key="k", durable=False)
    producer = connection.Producer()
    producer.publish("first", exchange=exchange, routing_key="k", declare=[queue])
    queue(connection.default_channel).delete()
    kombu.Queue("q", durable=False)(connection.default_channel).declare()
    producer.publish("second", exchange=exchange, routing_key="k")
    assert _bodies(connection, kombu.Queue("q", durable=False)) == []
