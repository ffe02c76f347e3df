# Consumer priorities (x-priority on basic.consume) and single active consumer
# (x-single-active-consumer) through pika.
from __future__ import annotations

import pika.exceptions
import pytest
from amqp_clients import connect, vhost_of, wait_until
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection


class _Received:
    """Deliveries per consumer tag, acked only when the test says so."""

    def __init__(self) -> None:
        self.by_tag: dict[str, list[tuple[int, bytes, bool]]] = {}

    def callback(
        self, channel: BlockingChannel, method: object, properties: object, body: bytes
    ) -> None:
        assert isinstance(method, pika.spec.Basic.Deliver)
        self.by_tag.setdefault(method.consumer_tag, []).append(
            (method.delivery_tag, body, method.redelivered)
        )

    def bodies(self, tag: str) -> list[bytes]:
        return [body for _tag, body, _redelivered in self.by_tag.get(tag, [])]

    def total(self) -> int:
        return sum(len(items) for items in self.by_tag.values())


def _pump(connection: BlockingConnection, received: _Received, count: int) -> None:
    wait_until(lambda: (connection.process_data_events(0.01), received.total())[1] >= count)


def test_higher_priority_consumer_gets_messages_while_it_has_room(amqp_url: str) -> None:
    received = _Received()
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.basic_qos(prefetch_count=2)
        channel.queue_declare("work")
        channel.basic_consume(
            "work", received.callback, consumer_tag="low", arguments={"x-priority": 1}
        )
        channel.basic_consume(
            "work", received.callback, consumer_tag="high", arguments={"x-priority": 10}
        )
        for n in range(3):
            channel.basic_publish("", "work", str(n).encode())
        _pump(connection, received, 3)
        # high takes two (its prefetch), the third overflows to low
        assert received.bodies("high") == [b"0", b"1"]
        assert received.bodies("low") == [b"2"]
        channel.basic_ack(received.by_tag["high"][0][0])
        channel.basic_publish("", "work", b"3")
        _pump(connection, received, 4)
        assert received.bodies("high") == [b"0", b"1", b"3"]


def test_equal_priorities_round_robin(amqp_url: str) -> None:
    received = _Received()
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("work")
        for tag in ("a", "b"):
            channel.basic_consume(
                "work",
                received.callback,
                consumer_tag=tag,
                auto_ack=True,
                arguments={"x-priority": 5},
            )
        channel.basic_consume("work", received.callback, consumer_tag="low", auto_ack=True)
        for n in range(4):
            channel.basic_publish("", "work", str(n).encode())
        _pump(connection, received, 4)
    assert received.bodies("a") == [b"0", b"2"]
    assert received.bodies("b") == [b"1", b"3"]
    assert received.bodies("low") == []


def test_consumer_priority_of_wrong_type_406(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("work")
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.basic_consume("work", lambda *args: None, arguments={"x-priority": "high"})
    assert info.value.reply_code == 406
    assert info.value.reply_text == (
        f"PRECONDITION_FAILED - invalid arg 'x-priority' for queue 'work' in vhost "
        f"'{vhost_of(amqp_url)}': \"expected integer, got longstr\""
    )


def test_single_active_consumer_hands_over_in_registration_order(amqp_url: str) -> None:
    received = _Received()
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("sac", arguments={"x-single-active-consumer": True})
        for tag in ("first", "second", "third"):
            channel.basic_consume("sac", received.callback, consumer_tag=tag, auto_ack=True)
        assert channel.queue_declare("sac", passive=True).method.consumer_count == 3
        for n in range(3):
            channel.basic_publish("", "sac", str(n).encode())
        _pump(connection, received, 3)
        assert received.bodies("first") == [b"0", b"1", b"2"]
        channel.basic_cancel("first")
        channel.basic_publish("", "sac", b"3")
        _pump(connection, received, 4)
        assert received.bodies("second") == [b"3"]
        assert received.bodies("third") == []


def test_single_active_consumer_channel_close_requeues_to_the_next(amqp_url: str) -> None:
    received = _Received()
    with connect(amqp_url) as connection:
        active = connection.channel()
        active.queue_declare("sac", arguments={"x-single-active-consumer": True})
        active.basic_consume("sac", received.callback, consumer_tag="active")
        standby = connection.channel()
        standby.basic_consume("sac", received.callback, consumer_tag="standby")
        for n in range(2):
            active.basic_publish("", "sac", str(n).encode())
        _pump(connection, received, 2)
        assert received.bodies("active") == [b"0", b"1"]
        active.close()  # unacked: requeued, and the standby consumer takes over
        _pump(connection, received, 4)
        assert [(body, redelivered) for _tag, body, redelivered in received.by_tag["standby"]] == [
            (b"0", True),
            (b"1", True),
        ]


def test_single_active_consumer_of_wrong_type_406(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.queue_declare("sac", arguments={"x-single-active-consumer": "yes"})
    assert info.value.reply_code == 406
    assert info.value.reply_text.endswith(": {unacceptable_type,longstr}")
