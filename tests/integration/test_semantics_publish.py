# Publishing: mandatory returns, immediate, missing exchanges, delivery modes, publisher confirms,
# and transactions (tx.select / commit / rollback), with pika and py-amqp.
from __future__ import annotations

import time
from typing import Any

import amqp
import amqp.exceptions
import pika
import pika.exceptions
import pytest
from amqp_clients import amqp_connect, connect, ready_count, vhost_of

# ---- mandatory, immediate, bad publishes -------------------------------------------------------


def test_mandatory_unroutable_is_returned_312_before_its_confirm(amqp_url: str) -> None:
    connection = amqp_connect(amqp_url)
    try:
        channel = connection.channel()
        events: list[tuple[Any, ...]] = []
        channel.events["basic_return"].add(
            lambda exc, exchange, routing_key, message: events.append(
                ("return", exc.reply_code, exc.reply_text, exchange, routing_key, message.body)
            )
        )
        channel.events["basic_ack"].add(
            lambda delivery_tag, multiple: events.append(("ack", delivery_tag, multiple))
        )
        channel.confirm_select()
        channel.basic_publish(amqp.Message(b"lost"), "amq.direct", "nowhere", mandatory=True)
        deadline = time.monotonic() + 3
        while len(events) < 2:
            assert time.monotonic() < deadline
            connection.drain_events(timeout=1)
        assert events == [
            ("return", 312, "NO_ROUTE", "amq.direct", "nowhere", b"lost"),
            ("ack", 1, False),
        ]
    finally:
        connection.close()


def test_mandatory_unroutable_raises_unroutable_in_pika_confirm_mode(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        with pytest.raises(pika.exceptions.UnroutableError) as info:
            channel.basic_publish("", "no-such-queue", b"x", mandatory=True)
        channel.queue_declare("routable")
        channel.basic_publish("", "routable", b"y", mandatory=True)
        assert ready_count(channel, "routable") == 1
    [returned] = info.value.messages
    assert returned.method.reply_code == 312
    assert returned.body == b"x"


def test_non_mandatory_unroutable_is_dropped_silently(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish("amq.fanout", "", b"into the void")
        assert channel.is_open


def test_publish_immediate_closes_connection_540(amqp_url: str) -> None:
    connection = amqp_connect(amqp_url)
    try:
        channel = connection.channel()
        channel.basic_publish(amqp.Message(b"now"), "", "anything", immediate=True)
        with pytest.raises(amqp.exceptions.AMQPNotImplementedError) as info:
            channel.queue_declare("after-immediate")
    finally:
        connection.collect()
    assert info.value.reply_code == 540
    assert info.value.reply_text == "NOT_IMPLEMENTED - immediate=true"


def test_publish_to_missing_exchange_closes_channel_404(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.basic_publish("missing", "key", b"x")
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.queue_declare("after-missing")
        assert connection.is_open
    assert info.value.reply_code == 404
    assert info.value.reply_text == (
        f"NOT_FOUND - no exchange 'missing' in vhost '{vhost_of(amqp_url)}'"
    )


def test_delivery_mode_7_closes_channel_406(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("modes")
        channel.basic_publish("", "modes", b"x", pika.BasicProperties(delivery_mode=7))
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.queue_declare("modes", passive=True)
        assert ready_count(connection.channel(), "modes") == 0
    assert info.value.reply_code == 406
    assert info.value.reply_text.startswith("PRECONDITION_FAILED - ")
    assert "{delivery_mode_unknown,7}" in info.value.reply_text


@pytest.mark.parametrize("mode", [1, 2])
def test_delivery_modes_1_and_2_are_delivered_unchanged(amqp_url: str, mode: int) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("modes-ok")
        channel.basic_publish("", "modes-ok", b"x", pika.BasicProperties(delivery_mode=mode))
        method, properties, _body = channel.basic_get("modes-ok", auto_ack=True)
        assert method is not None
        assert properties.delivery_mode == mode


# ---- publisher confirms ------------------------------------------------------------------------


def test_every_publish_is_confirmed_once_in_sequence_from_1(amqp_url: str) -> None:
    connection = amqp_connect(amqp_url)
    try:
        channel = connection.channel()
        channel.queue_declare("confirmed", auto_delete=False)
        acked: list[int] = []

        def on_ack(delivery_tag: int, multiple: bool) -> None:
            start = (acked[-1] + 1 if acked else 1) if multiple else delivery_tag
            acked.extend(range(start, delivery_tag + 1))

        channel.events["basic_ack"].add(on_ack)
        channel.events["basic_nack"].add(lambda *args: acked.append(-1))
        channel.confirm_select()
        for n in range(20):
            # Routable and unroutable alike get exactly one ack.
            channel.basic_publish(amqp.Message(str(n).encode()), "", "confirmed" if n % 2 else "x")
        deadline = time.monotonic() + 3
        while len(acked) < 20:
            assert time.monotonic() < deadline
            connection.drain_events(timeout=1)
        assert acked == list(range(1, 21))
        # Nothing more arrives: one more publish is acked with the next number.
        channel.basic_publish(amqp.Message(b"last"), "", "confirmed")
        while len(acked) < 21:
            assert time.monotonic() < deadline
            connection.drain_events(timeout=1)
        assert acked == list(range(1, 22))
        assert channel.queue_declare("confirmed", passive=True).message_count == 11
    finally:
        connection.close()


def test_pika_confirm_delivery_blocks_until_each_ack(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare("pika-confirmed")
        for n in range(10):
            channel.basic_publish("", "pika-confirmed", str(n).encode())
        assert ready_count(channel, "pika-confirmed") == 10


# ---- transactions ------------------------------------------------------------------------------


def test_tx_publishes_are_held_until_commit(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        observer = connection.channel()
        observer.queue_declare("tx-pub")
        channel.tx_select()
        channel.basic_publish("", "tx-pub", b"a")
        channel.basic_publish("", "tx-pub", b"b")
        assert ready_count(observer, "tx-pub") == 0
        channel.tx_commit()
        assert ready_count(observer, "tx-pub") == 2
        method, _properties, body = observer.basic_get("tx-pub", auto_ack=True)
        assert method is not None
        assert body == b"a"


def test_tx_rollback_drops_publishes(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        observer = connection.channel()
        observer.queue_declare("tx-drop")
        channel.tx_select()
        channel.basic_publish("", "tx-drop", b"dropped")
        channel.tx_rollback()
        channel.basic_publish("", "tx-drop", b"kept")
        channel.tx_commit()
        method, _properties, body = observer.basic_get("tx-drop", auto_ack=True)
        assert method is not None
        assert body == b"kept"
        assert ready_count(observer, "tx-drop") == 0


def test_tx_acks_are_held_until_commit(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        observer = connection.channel()
        observer.queue_declare("tx-ack")
        for body in (b"a", b"b"):
            observer.basic_publish("", "tx-ack", body)
        channel = connection.channel()
        channel.tx_select()
        tags = []
        for _ in range(2):
            method, _properties, _body = channel.basic_get("tx-ack")
            assert method is not None
            tags.append(method.delivery_tag)
        channel.basic_ack(tags[0])
        channel.tx_commit()
        channel.basic_ack(tags[1])
        # The second ack is not committed: closing the channel requeues that message.
        channel.close()
        method, _properties, body = observer.basic_get("tx-ack", auto_ack=True)
        assert method is not None
        assert (body, method.redelivered) == (b"b", True)
        assert ready_count(observer, "tx-ack") == 0


def test_tx_rollback_undoes_acks(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        observer = connection.channel()
        observer.queue_declare("tx-unack")
        observer.basic_publish("", "tx-unack", b"a")
        channel = connection.channel()
        channel.tx_select()
        method, _properties, _body = channel.basic_get("tx-unack")
        assert method is not None
        channel.basic_ack(method.delivery_tag)
        channel.tx_rollback()
        # Still unacked after the rollback, so the same tag can be acked again and committed.
        channel.basic_ack(method.delivery_tag)
        channel.tx_commit()
        channel.close()
        assert ready_count(observer, "tx-unack") == 0


def test_tx_commit_without_select_closes_channel_406(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.tx_commit()
    assert info.value.reply_code == 406
    assert info.value.reply_text == "PRECONDITION_FAILED - channel is not transactional"


def test_tx_rollback_without_select_closes_channel_406(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.tx_rollback()
    assert info.value.reply_code == 406
    assert info.value.reply_text == "PRECONDITION_FAILED - channel is not transactional"


def test_confirm_select_after_tx_select_closes_channel_406(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.tx_select()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.confirm_delivery()
    assert info.value.reply_code == 406
    assert info.value.reply_text == ("PRECONDITION_FAILED - cannot switch from tx to confirm mode")


def test_tx_select_after_confirm_select_closes_channel_406(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.tx_select()
    assert info.value.reply_code == 406
    assert info.value.reply_text == ("PRECONDITION_FAILED - cannot switch from confirm to tx mode")


@pytest.mark.parametrize(
    "name", ["a=b", "обмен", "sp ace!", "e" * 255], ids=["equals", "cyrillic", "space", "255"]
)
def test_unusual_exchange_names_reach_consumers_get_and_returns(amqp_url: str, name: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.exchange_declare(name, "fanout")
        channel.queue_declare("fanned")
        channel.queue_bind("fanned", name)
        channel.basic_publish(name, "", b"for get")
        method, _properties, body = channel.basic_get("fanned", auto_ack=True)
        assert method is not None
        assert (method.exchange, body) == (name, b"for get")
        channel.basic_publish(name, "", b"for consumer")
        for delivered, _properties, body in channel.consume("fanned", inactivity_timeout=2):
            assert delivered is not None
            assert (delivered.exchange, body) == (name, b"for consumer")
            channel.basic_ack(delivered.delivery_tag)
            break
        channel.cancel()
        channel.queue_unbind("fanned", name)
        channel.confirm_delivery()
        with pytest.raises(pika.exceptions.UnroutableError) as info:
            channel.basic_publish(name, "", b"returned", mandatory=True)
    [returned] = info.value.messages
    assert returned.method.exchange == name
