# Queue semantics through pika's BlockingConnection: naming, exclusivity, auto-delete, declare
# equivalence, purge and delete, each checked against RabbitMQ 3.10's reply codes and texts.
from __future__ import annotations

import time
import urllib.parse

import amqp
import kombu
import pika
import pika.exceptions
import pytest
from amqp_clients import amqp_connect, connect, vhost_of

from amqp_broker.testing import BrokerThread


def _queue_exists(connection: pika.BlockingConnection, name: str) -> bool:
    """A passive declare on a throwaway channel: a 404 closes only that channel."""
    probe = connection.channel()
    try:
        probe.queue_declare(name, passive=True)
    except pika.exceptions.ChannelClosedByBroker as exc:
        assert exc.reply_code == 404
        return False
    probe.close()
    return True


def test_server_named_queue_gets_amq_gen_name(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        first = channel.queue_declare("", exclusive=True).method.queue
        second = channel.queue_declare("", exclusive=True).method.queue
        assert first.startswith("amq.gen-")
        assert second.startswith("amq.gen-")
        assert first != second
        channel.basic_publish("", first, b"to the generated name")
        method, _properties, body = channel.basic_get(first, auto_ack=True)
        assert method is not None
        assert body == b"to the generated name"


def test_passive_declare_of_missing_queue_404_names_queue_and_vhost(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.queue_declare("x", passive=True)
    assert info.value.reply_code == 404
    assert info.value.reply_text == f"NOT_FOUND - no queue 'x' in vhost '{vhost_of(amqp_url)}'"


def test_exclusive_queue_from_another_connection_is_resource_locked_405(amqp_url: str) -> None:
    with connect(amqp_url) as owner, connect(amqp_url) as other:
        owner.channel().queue_declare("mine", exclusive=True)
        channel = other.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.basic_get("mine")
    assert info.value.reply_code == 405
    assert info.value.reply_text.startswith(
        "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'mine' in vhost "
        f"'{vhost_of(amqp_url)}'."
    )


@pytest.mark.parametrize("operation", ["declare", "passive", "consume", "purge", "delete"])
def test_every_operation_on_another_connections_exclusive_queue_is_405(
    amqp_url: str, operation: str
) -> None:
    with connect(amqp_url) as owner, connect(amqp_url) as other:
        owner.channel().queue_declare("mine", exclusive=True)
        channel = other.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            if operation == "declare":
                channel.queue_declare("mine", exclusive=True)
            elif operation == "passive":
                channel.queue_declare("mine", passive=True)
            elif operation == "consume":
                channel.basic_consume("mine", lambda *args: None)
            elif operation == "purge":
                channel.queue_purge("mine")
            else:
                channel.queue_delete("mine")
    assert info.value.reply_code == 405


def test_exclusive_queue_is_deleted_when_its_connection_closes(amqp_url: str) -> None:
    with connect(amqp_url) as owner:
        owner.channel().queue_declare("temporary", exclusive=True)
        with connect(amqp_url) as observer:
            channel = observer.channel()
            with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
                channel.queue_declare("temporary", passive=True)
            assert info.value.reply_code == 405
    with connect(amqp_url) as observer:
        assert _queue_exists(observer, "temporary") is False
        # The name is free again, for anyone.
        observer.channel().queue_declare("temporary")


def test_auto_delete_queue_is_deleted_when_its_last_consumer_cancels(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("fleeting", auto_delete=True)
        first = channel.basic_consume("fleeting", lambda *args: None)
        second = channel.basic_consume("fleeting", lambda *args: None)
        channel.basic_cancel(first)
        assert _queue_exists(connection, "fleeting") is True
        channel.basic_cancel(second)
        assert _queue_exists(connection, "fleeting") is False


def test_auto_delete_queue_without_consumers_ever_survives(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("never-consumed", auto_delete=True)
        channel.basic_publish("", "never-consumed", b"waiting")
        assert channel.queue_declare("never-consumed", passive=True).method.message_count == 1


def test_declare_ok_reports_ready_messages_and_consumers(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        declared = channel.queue_declare("counted").method
        assert (declared.message_count, declared.consumer_count) == (0, 0)
        for n in range(3):
            channel.basic_publish("", "counted", str(n).encode())
        observer = connection.channel()
        assert observer.queue_declare("counted").method.message_count == 3
        # One message taken and not acked: it no longer counts as ready.
        method, _properties, _body = observer.basic_get("counted")
        assert method is not None
        consumer_channel = connection.channel()
        consumer_channel.basic_qos(prefetch_count=1)
        consumer_channel.basic_consume("counted", lambda *args: None)
        declared = channel.queue_declare("counted", passive=True).method
        assert (declared.message_count, declared.consumer_count) == (1, 1)


def test_redeclare_with_different_durable_is_406_inequivalent_arg(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("q", durable=False)
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.queue_declare("q", durable=True)
    assert info.value.reply_code == 406
    assert info.value.reply_text == (
        f"PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'q' in vhost "
        f"'{vhost_of(amqp_url)}': received 'true' but current is 'false'"
    )


@pytest.mark.parametrize(
    ("first", "again"),
    [
        ({"exclusive": True}, {}),
        ({"exclusive": True}, {"durable": True}),
        ({}, {"exclusive": True}),
        ({}, {"exclusive": True, "durable": True}),
    ],
    ids=["exclusive-then-shared", "exclusive-then-durable", "shared-then-exclusive", "both"],
)
def test_redeclare_with_other_exclusivity_on_the_same_connection_is_405(
    amqp_url: str, first: dict[str, bool], again: dict[str, bool]
) -> None:
    """RabbitMQ compares the declaring connection with the queue's owner before any flag, so
    a mismatch of `exclusive` is RESOURCE_LOCKED, not an inequivalent arg (aiormq's own
    test_exclusive_queue_locked relies on it)."""
    with connect(amqp_url) as connection:
        connection.channel().queue_declare("mixed", **first)
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            connection.channel().queue_declare("mixed", **again)
    assert info.value.reply_code == 405
    assert info.value.reply_text.startswith(
        "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'mixed' in vhost "
        f"'{vhost_of(amqp_url)}'."
    )


def test_exclusive_queue_is_never_durable(amqp_broker: BrokerThread, amqp_url: str) -> None:
    """RabbitMQ drops `durable` from an exclusive declare, so either flag is equivalent later."""
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("own", exclusive=True, durable=True)
        assert not amqp_broker.queue("own", vhost=vhost_of(amqp_url)).durable
        channel.queue_declare("own", exclusive=True)
        channel.queue_declare("own", exclusive=True, durable=True)
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.queue_declare("own", exclusive=True, auto_delete=True)
    assert info.value.reply_code == 406
    assert info.value.reply_text == (
        f"PRECONDITION_FAILED - inequivalent arg 'auto_delete' for queue 'own' in vhost "
        f"'{vhost_of(amqp_url)}': received 'true' but current is 'false'"
    )


def test_redeclare_with_same_properties_is_accepted(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("same", durable=True, arguments={"x-max-priority": 5})
        again = channel.queue_declare("same", durable=True, arguments={"x-max-priority": 5})
        assert again.method.queue == "same"


@pytest.mark.parametrize(
    "name",
    ["a=b", "очередь", "sp ace!", "q?x", "n" * 255, "я" * 127 + "z"],
    ids=["equals", "cyrillic", "space-bang", "question", "255-ascii", "255-bytes-utf8"],
)
def test_unusual_queue_names_work_end_to_end(amqp_url: str, name: str) -> None:
    assert len(name.encode("utf-8")) <= 255
    with connect(amqp_url) as connection:
        channel = connection.channel()
        assert channel.queue_declare(name).method.queue == name
        channel.queue_bind(name, "amq.direct", routing_key=name)
        channel.basic_publish("amq.direct", name, b"via direct")
        channel.basic_publish("", name, b"via default")
        assert channel.queue_declare(name, passive=True).method.message_count == 2
        bodies = []
        for _ in range(2):
            method, _properties, body = channel.basic_get(name)
            assert method is not None
            assert method.routing_key == name
            bodies.append(body)
            channel.basic_ack(method.delivery_tag)
        assert bodies == [b"via direct", b"via default"]
        assert channel.queue_delete(name).method.message_count == 0


def test_queue_name_with_reserved_amq_prefix_is_403(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.queue_declare("amq.x")
    assert info.value.reply_code == 403
    assert info.value.reply_text == (
        "ACCESS_REFUSED - queue name 'amq.x' contains reserved prefix 'amq.*'"
    )


def test_purge_returns_count_and_leaves_unacked_messages(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("purged")
        for n in range(5):
            channel.basic_publish("", "purged", str(n).encode())
        held, _properties, _body = channel.basic_get("purged")
        assert held is not None
        assert channel.queue_purge("purged").method.message_count == 4
        assert channel.queue_declare("purged", passive=True).method.message_count == 0
        # The unacked one survives the purge and comes back when rejected.
        channel.basic_reject(held.delivery_tag, requeue=True)
        method, _properties, body = channel.basic_get("purged")
        assert method is not None
        assert body == b"0"
        assert method.redelivered is True


def test_delete_if_unused_with_a_consumer_is_406(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("busy")
        channel.basic_consume("busy", lambda *args: None)
        other = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            other.queue_delete("busy", if_unused=True)
    assert info.value.reply_code == 406
    assert info.value.reply_text == (
        f"PRECONDITION_FAILED - queue 'busy' in vhost '{vhost_of(amqp_url)}' in use"
    )


def test_delete_if_empty_with_messages_is_406(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("full")
        channel.basic_publish("", "full", b"still here")
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.queue_delete("full", if_empty=True)
    assert info.value.reply_code == 406
    assert info.value.reply_text == (
        f"PRECONDITION_FAILED - queue 'full' in vhost '{vhost_of(amqp_url)}' not empty"
    )


def test_delete_returns_the_ready_count(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("doomed")
        for n in range(3):
            channel.basic_publish("", "doomed", str(n).encode())
        assert channel.queue_delete("doomed").method.message_count == 3
        assert _queue_exists(connection, "doomed") is False


def test_deleting_a_missing_queue_succeeds(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        assert channel.queue_delete("never-declared").method.message_count == 0
        # The channel is still usable.
        assert channel.queue_declare("after").method.queue == "after"


def test_cancelling_an_unknown_consumer_tag_succeeds(amqp_url: str) -> None:
    # pika refuses to send basic.cancel for a tag it never saw; py-amqp sends it and waits.
    parts = urllib.parse.urlsplit(amqp_url)
    connection = amqp.Connection(f"{parts.hostname}:{parts.port}", virtual_host=vhost_of(amqp_url))
    connection.connect()
    try:
        channel = connection.channel()
        channel.queue_declare("plain")
        channel.basic_cancel("no-such-tag")
        assert channel.is_open
        assert channel.queue_declare("plain", passive=True).queue == "plain"
    finally:
        connection.close()


def test_consumer_of_a_deleted_queue_receives_basic_cancel(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("vanishing")
        cancels: list[str] = []
        channel.add_on_cancel_callback(lambda frame: cancels.append(frame.method.consumer_tag))
        tag = channel.basic_consume("vanishing", lambda *args: None)
        connection.channel().queue_delete("vanishing")
        deadline = time.monotonic() + 2
        while not cancels and time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.1)
        assert cancels == [tag]
        assert channel.is_open
        assert channel.consumer_tags == []


@pytest.mark.parametrize("same_channel", [True, False], ids=["same-channel", "other-channel"])
def test_delete_ok_comes_before_the_consumers_basic_cancel(
    amqp_url: str, same_channel: bool
) -> None:
    """As in RabbitMQ, the deleter's reply goes out first and the consumers hear of it after."""
    events: list[str] = []
    connection = amqp_connect(amqp_url)
    try:
        consuming, other = connection.channel(), connection.channel()
        consuming.queue_declare("ordered")
        consuming.basic_consume(
            "ordered", callback=lambda message: None, on_cancel=lambda tag: events.append("cancel")
        )
        deleter = consuming if same_channel else other
        deleter.queue_delete("ordered")
        events.append("delete-ok")
        while "cancel" not in events:
            connection.drain_events(timeout=2)
    finally:
        connection.close()
    assert events == ["delete-ok", "cancel"]


def test_kombu_deletes_the_queue_it_consumes_from(amqp_url: str) -> None:
    """kombu's own integration test (test_ack_from_another_thread) deletes a queue through the
    channel of its Consumer, which has no on_cancel: a cancel before delete-ok would raise."""
    queue = kombu.Queue("consumed", routing_key="consumed")
    with kombu.Connection(amqp_url) as connection:
        consumer = kombu.Consumer(connection, [queue], callbacks=[lambda body, message: None])
        with consumer:
            assert queue(consumer.channel).delete() == 0
        assert not _queue_exists_kombu(connection, "consumed")


def _queue_exists_kombu(connection: kombu.Connection, name: str) -> bool:
    try:
        connection.channel().queue_declare(name, passive=True)
    except amqp.exceptions.NotFound:
        return False
    return True


def test_consume_generator_ends_when_its_queue_is_deleted(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("generator")
        channel.basic_publish("", "generator", b"first")
        deleter = connection.channel()
        seen = []
        for method, _properties, body in channel.consume("generator", inactivity_timeout=2):
            assert method is not None, "the generator should end, not time out"
            seen.append(body)
            channel.basic_ack(method.delivery_tag)
            deleter.queue_delete("generator")
        assert seen == [b"first"]


@pytest.mark.parametrize(
    "call",
    [
        lambda ch: ch.basic_get(""),
        lambda ch: ch.basic_consume("", callback=print),
        lambda ch: ch.queue_purge(""),
        lambda ch: ch.queue_delete(""),
        lambda ch: ch.queue_bind("", "amq.direct", "k"),
        lambda ch: ch.queue_unbind("", "amq.direct", "k"),
    ],
    ids=["get", "consume", "purge", "delete", "bind", "unbind"],
)
def test_empty_queue_name_before_any_declare_is_404(amqp_url: str, call: object) -> None:
    """What RabbitMQ 3.10.8 answers (amqp-consume -q '' meets it): not "no queue ''"."""
    connection = amqp_connect(amqp_url)
    channel = connection.channel()
    with pytest.raises(amqp.exceptions.NotFound) as info:
        call(channel)  # type: ignore[operator]
    assert info.value.reply_text == "NOT_FOUND - no previously declared queue"
    connection.close()


def test_empty_queue_name_means_the_channels_last_declared_queue(amqp_url: str) -> None:
    """The spec's shortcut, kept by RabbitMQ: get, consume, purge, bind (an empty routing key
    too), unbind and delete with queue '' act on the queue this channel declared last."""
    connection = amqp_connect(amqp_url)
    channel = connection.channel()
    channel.queue_declare("shortcut.q")
    channel.basic_publish(amqp.Message("one"), "", "shortcut.q")
    assert channel.basic_get("", no_ack=True).body == "one"
    channel.basic_publish(amqp.Message("two"), "", "shortcut.q")
    assert channel.queue_purge("") == 1
    channel.queue_bind("", "amq.direct", "")  # the key becomes the queue's name
    channel.basic_publish(amqp.Message("via"), "amq.direct", "shortcut.q")
    assert channel.basic_get("shortcut.q", no_ack=True).body == "via"
    channel.queue_unbind("", "amq.direct", "")
    channel.basic_publish(amqp.Message("lost"), "amq.direct", "shortcut.q")
    assert channel.basic_get("shortcut.q", no_ack=True) is None
    other = connection.channel()  # the shortcut is per channel
    with pytest.raises(amqp.exceptions.NotFound):
        other.basic_get("")
    named = channel.queue_declare("", exclusive=True).queue
    channel.basic_publish(amqp.Message("to the server-named queue"), "", named)
    received: list[str] = []
    channel.basic_cancel(channel.basic_consume("", callback=lambda m: received.append(m.body)))
    assert received == ["to the server-named queue"]
    assert channel.queue_delete("") == 0  # the server-named queue, not shortcut.q
    assert channel.queue_declare("shortcut.q", passive=True).queue == "shortcut.q"
    assert channel.queue_delete("") == 0  # a passive declare counts too
    connection.close()


@pytest.mark.parametrize(
    ("queue", "flags", "text"),
    [
        ("", {"durable": True}, "Cannot declare a server-named queue for type rabbit_quorum_queue"),
        ("qq", {"durable": False}, "invalid property 'non-durable' for queue 'qq' in vhost '{v}'"),
        (
            "qq",
            {"exclusive": True},
            "invalid property 'exclusive-owner' for queue 'qq' in vhost '{v}'",
        ),
    ],
)
def test_quorum_queue_declares_refused_as_rabbitmq_refuses_them(
    amqp_url: str, queue: str, flags: dict[str, bool], text: str
) -> None:
    """Every queue here is classic underneath, but a quorum declare RabbitMQ 3.10.8 refuses is
    refused here too, so code tested against this broker does not fail on RabbitMQ."""
    with connect(amqp_url) as connection:
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.queue_declare(queue, arguments={"x-queue-type": "quorum"}, **flags)
    assert info.value.reply_code == 406
    assert info.value.reply_text == "PRECONDITION_FAILED - " + text.format(v=vhost_of(amqp_url))
    with connect(amqp_url) as connection:
        declared = connection.channel().queue_declare(
            "qq", durable=True, arguments={"x-queue-type": "quorum"}
        )
    assert declared.method.queue == "qq"
