# Each configurable limit refuses the excess with RabbitMQ's reply code and text (measured on
# RabbitMQ 3.10.8 where RabbitMQ has the same limit) and leaves the broker serving everyone else.
from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pika
import pika.exceptions
import pytest
import trio
from amqp_clients import connect
from amqp_raw_client import RawClient

from amqp_broker.config import BrokerConfig
from amqp_broker.testing import BrokerThread, open_broker


@pytest.fixture
def limited_broker(request: pytest.FixtureRequest) -> Iterator[BrokerThread]:
    options: dict[str, Any] = request.param
    with BrokerThread(BrokerConfig(port=0, **options)) as broker:
        yield broker


def _one(options: dict[str, Any]) -> Any:
    return pytest.mark.parametrize("limited_broker", [options], indirect=True)


@_one({"max_connections_per_user": 1})
def test_user_connection_limit_refuses_at_connection_open(limited_broker: BrokerThread) -> None:
    with connect(limited_broker.url):
        with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as info:
            connect(limited_broker.url)
        assert (
            "(530) \"NOT_ALLOWED - connection refused for user 'guest': "
            'user connection limit (1) is reached"' in str(info.value)
        )
    with connect(limited_broker.url):  # the slot is free again
        pass


@_one({"max_connections": 2})
def test_broker_connection_limit_closes_the_socket_at_accept(limited_broker: BrokerThread) -> None:
    address = (limited_broker.host, limited_broker.port)
    with (
        connect(limited_broker.url),
        connect(limited_broker.url),
        socket.create_connection(address, 5) as sock,
    ):
        sock.settimeout(5)
        assert sock.recv(100) == b""
    with connect(limited_broker.url):
        pass


@_one({"max_message_size": 100})
def test_message_above_max_size_closes_the_channel_406(limited_broker: BrokerThread) -> None:
    with connect(limited_broker.url) as connection:
        channel = connection.channel()
        channel.queue_declare("big")
        channel.confirm_delivery()
        channel.basic_publish("", "big", b"x" * 100)
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.basic_publish("", "big", b"x" * 101)
        assert info.value.reply_code == 406
        assert info.value.reply_text == (
            "PRECONDITION_FAILED - message size 101 is larger than configured max size 100"
        )
        assert connection.channel().queue_declare("big", passive=True).method.message_count == 1


@_one({"max_queues_per_vhost": 3})
def test_queue_limit_per_vhost_refuses_new_queues_406(limited_broker: BrokerThread) -> None:
    with connect(limited_broker.url) as connection:
        channel = connection.channel()
        for name in ("q0", "q1", "q2"):
            channel.queue_declare(name)
        channel.queue_declare("q1")  # redeclaring is not creating
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.queue_declare("q3")
        assert info.value.reply_code == 406
        assert info.value.reply_text == (
            "PRECONDITION_FAILED - cannot declare queue 'q3': queue limit in vhost '/' (3) "
            "is reached"
        )
        channel = connection.channel()
        channel.queue_delete("q0")
        channel.queue_declare("q3")


@_one({"max_exchanges_per_vhost": 8})
def test_exchange_limit_per_vhost_counts_predeclared_exchanges(
    limited_broker: BrokerThread,
) -> None:
    with connect(limited_broker.url) as connection:
        channel = connection.channel()
        channel.exchange_declare("x0", "fanout")  # 7 predeclared + 1
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.exchange_declare("x1", "fanout")
        assert info.value.reply_code == 406
        assert info.value.reply_text == (
            "PRECONDITION_FAILED - cannot declare exchange 'x1': exchange limit in vhost '/' "
            "(8) is reached"
        )


def _nested(depth: int) -> dict[str, Any]:
    """A headers table `depth` levels deep, itself included."""
    table: dict[str, Any] = {}
    for level in range(depth - 1):
        table = {f"l{level}": table}
    return table


@_one({"max_table_depth": 3})
def test_headers_deeper_than_max_table_depth_close_the_connection_501(
    limited_broker: BrokerThread,
) -> None:
    with connect(limited_broker.url) as connection:
        channel = connection.channel()
        channel.queue_declare("deep")
        channel.confirm_delivery()
        channel.basic_publish("", "deep", b"ok", pika.BasicProperties(headers=_nested(3)))
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as info:
            channel.basic_publish("", "deep", b"no", pika.BasicProperties(headers=_nested(4)))
        assert info.value.reply_code == 501
        assert info.value.reply_text == "FRAME_ERROR - field table nested deeper than 3 levels"
    with connect(limited_broker.url) as connection:  # the broker serves on
        assert connection.channel().queue_declare("deep", passive=True).method.message_count == 1


@_one({"max_table_depth": 128})
def test_tables_as_deep_as_the_highest_setting_are_routed_dead_lettered_and_delivered(
    limited_broker: BrokerThread,
) -> None:
    headers = _nested(128)
    with connect(limited_broker.url) as connection:
        channel = connection.channel()
        channel.queue_declare("dlq")
        arguments = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq"}
        channel.queue_declare("work", arguments=arguments)
        channel.exchange_declare("by-headers", "headers")
        channel.queue_bind(
            "work", "by-headers", arguments={"x-match": "any", "l126": headers["l126"]}
        )
        channel.confirm_delivery()
        channel.basic_publish("by-headers", "", b"deep", pika.BasicProperties(headers=headers))
        method, _, _ = channel.basic_get("work")
        assert method is not None
        channel.basic_reject(method.delivery_tag, requeue=False)
        method, properties, body = channel.basic_get("dlq", auto_ack=True)
        assert body == b"deep"
        assert properties.headers["l126"] == headers["l126"]
        assert properties.headers["x-death"][0]["queue"] == "work"


async def test_oldest_unauthenticated_sockets_are_dropped_above_the_limit() -> None:
    config = BrokerConfig(port=0, max_unauthenticated=3)
    async with open_broker(config) as broker:
        idle = [await RawClient.connect(broker.port) for _ in range(5)]
        with trio.fail_after(10):
            for client in idle[:2]:
                assert await client.expect_eof() == b""
            real = await RawClient.connect(broker.port)
            await real.handshake()
            await real.open_channel()
        assert len(broker.server._handshaking) == 3
        for client in [*idle, real]:
            await client.aclose()
