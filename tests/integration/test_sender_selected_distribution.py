# Sender-selected distribution (RabbitMQ's CC and BCC headers) with pika. Expected answers are
# what a live RabbitMQ 3.10.8 node gave for the same publishes.
from __future__ import annotations

import pika
import pika.exceptions
import pytest
from amqp_clients import connect
from pika.adapters.blocking_connection import BlockingChannel

QUEUES = ("cc-a", "cc-b", "cc-c", "cc-d")


def _bound(channel: BlockingChannel) -> None:
    for queue in QUEUES:
        channel.queue_declare(queue, exclusive=True)
        channel.queue_bind(queue, "amq.direct", queue)


def _get(channel: BlockingChannel, queue: str) -> tuple[str, dict[str, object]] | None:
    method, properties, _ = channel.basic_get(queue, auto_ack=True)
    if method is None:
        return None
    return method.routing_key, properties.headers


def test_cc_and_bcc_add_routing_keys_and_bcc_is_not_delivered(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        _bound(channel)
        headers = {"CC": ["cc-b", 5], "BCC": ["cc-c", "cc-b"], "z": 1}
        channel.basic_publish("amq.direct", "cc-a", b"m", pika.BasicProperties(headers=headers))
        delivered = {"CC": ["cc-b", 5], "z": 1}
        # every queue reached once, with the publisher's routing key; a non-string CC is ignored
        for queue in ("cc-a", "cc-b", "cc-c"):
            assert _get(channel, queue) == ("cc-a", delivered)
        assert _get(channel, "cc-b") is None
        assert _get(channel, "cc-d") is None


def test_cc_on_the_default_exchange_names_queues(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        _bound(channel)
        channel.basic_publish("", "cc-a", b"m", pika.BasicProperties(headers={"CC": ["cc-d"]}))
        assert _get(channel, "cc-a") == ("cc-a", {"CC": ["cc-d"]})
        assert _get(channel, "cc-d") == ("cc-a", {"CC": ["cc-d"]})


@pytest.mark.parametrize(
    ("header", "value", "type_name"),
    [("CC", "cc-b", "longstr"), ("BCC", 7, "signedint"), ("CC", {"a": 1}, "table")],
)
def test_cc_or_bcc_that_is_not_an_array_is_406(
    amqp_url: str, header: str, value: object, type_name: str
) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as closed:
            channel.basic_publish(
                "amq.direct", "k", b"m", pika.BasicProperties(headers={header: value})
            )
        assert closed.value.args == (
            406,
            f'PRECONDITION_FAILED - invalid message: {{unacceptable_type_in_header,"{header}",'
            f"{type_name}}}",
        )
