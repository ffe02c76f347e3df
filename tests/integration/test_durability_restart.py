# Durable definitions and persistent messages across a broker restart on the same data directory
# (BrokerThread with BrokerConfig.data_dir; pika speaks AMQP over real sockets).
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pika
import pytest
from amqp_clients import connect

from amqp_broker.config import BrokerConfig
from amqp_broker.store.records import scan_segment
from amqp_broker.testing import BrokerThread

PERSISTENT = pika.BasicProperties(delivery_mode=2)


@pytest.fixture
def data_dir(tmp_path: Path) -> str:
    return str(tmp_path / "data")


def broker_on(data_dir: str) -> BrokerThread:
    return BrokerThread(BrokerConfig(port=0, data_dir=data_dir, fsync="never"))


Got = tuple[pika.spec.Basic.GetOk, pika.BasicProperties, bytes]


def drain(url: str, queue: str) -> Iterator[Got]:
    connection = connect(url)
    channel = connection.channel()
    while True:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            break
        yield method, properties, body
    connection.close()


def test_persistent_messages_on_durable_queue_survive_restart_in_order(data_dir: str) -> None:
    with broker_on(data_dir) as broker:
        connection = connect(broker.url)
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare("jobs", durable=True)
        for number in range(50):
            properties = pika.BasicProperties(
                delivery_mode=2, headers={"n": number}, content_type="text/plain"
            )
            channel.basic_publish("", "jobs", f"job {number}".encode(), properties)
        channel.basic_publish("", "jobs", b"transient", pika.BasicProperties(delivery_mode=1))
        connection.close()
    with broker_on(data_dir) as broker:
        got = list(drain(broker.url, "jobs"))
    assert [body for _, _, body in got] == [f"job {number}".encode() for number in range(50)]
    assert [props.headers for _, props, _ in got] == [{"n": number} for number in range(50)]
    assert {props.content_type for _, props, _ in got} == {"text/plain"}
    assert not any(method.redelivered for method, _, _ in got)


def test_definitions_survive_restart_and_transient_ones_do_not(data_dir: str) -> None:
    with broker_on(data_dir) as broker:
        connection = connect(broker.url)
        channel = connection.channel()
        channel.exchange_declare("events", "topic", durable=True, arguments={"x-any": [1, "a"]})
        channel.exchange_declare("scratch", "fanout", durable=False)
        channel.queue_declare("audit", durable=True, arguments={"x-max-priority": 5})
        channel.queue_declare("temp", durable=False)
        channel.queue_bind("audit", "events", "order.*")
        channel.queue_bind("temp", "events", "order.*")
        channel.basic_publish("", "temp", b"gone", PERSISTENT)
        connection.close()
    with broker_on(data_dir) as broker:
        connection = connect(broker.url)
        channel = connection.channel()
        channel.exchange_declare("events", "topic", durable=True, arguments={"x-any": [1, "a"]})
        channel.queue_declare("audit", durable=True, arguments={"x-max-priority": 5})
        channel.confirm_delivery()
        channel.basic_publish("events", "order.created", b"routed", PERSISTENT)
        assert channel.queue_declare("audit", passive=True).method.message_count == 1
        for missing in ("scratch", "temp"):
            probe = connection.channel()
            with pytest.raises(pika.exceptions.ChannelClosedByBroker) as closed:
                if missing == "scratch":
                    probe.exchange_declare(missing, passive=True)
                else:
                    probe.queue_declare(missing, passive=True)
            assert closed.value.reply_code == 404
        connection.close()


def test_unacked_messages_come_back_redelivered_and_acked_ones_do_not(data_dir: str) -> None:
    with broker_on(data_dir) as broker:
        connection = connect(broker.url)
        channel = connection.channel()
        channel.queue_declare("work", durable=True)
        for number in range(4):
            channel.basic_publish("", "work", str(number).encode(), PERSISTENT)
        first, _, _ = channel.basic_get("work")
        second, _, _ = channel.basic_get("work")
        assert first is not None and second is not None
        channel.basic_ack(first.delivery_tag)
        # basic.ack has no reply: a round trip makes sure the broker applied it before it stops
        channel.queue_declare("work", durable=True, passive=True)
        # the broker stops while message 1 is delivered and unacked
        broker.stop()
    with broker_on(data_dir) as broker:
        got = [(body, method.redelivered) for method, _, body in drain(broker.url, "work")]
    assert got == [(b"1", True), (b"2", False), (b"3", False)]


def test_messages_handed_straight_to_a_consumer_come_back_redelivered(data_dir: str) -> None:
    """A publish to an empty queue with a waiting consumer is handed over without queueing
    (RabbitMQ's attempt_delivery); the store must still know it was delivered."""
    with broker_on(data_dir) as broker:
        connection = connect(broker.url)
        channel = connection.channel()
        channel.queue_declare("waiting", durable=True)
        received: list[bytes] = []
        channel.basic_consume("waiting", lambda _ch, _m, _p, body: received.append(body))
        for number in range(3):
            channel.basic_publish("", "waiting", str(number).encode(), PERSISTENT)
        while len(received) < 3:
            connection.process_data_events(time_limit=0.1)
        broker.stop()  # all three delivered, none acked
    with broker_on(data_dir) as broker:
        got = [(body, method.redelivered) for method, _, body in drain(broker.url, "waiting")]
    assert got == [(b"0", True), (b"1", True), (b"2", True)]


def test_deleted_durable_queue_does_not_come_back(data_dir: str) -> None:
    with broker_on(data_dir) as broker:
        connection = connect(broker.url)
        channel = connection.channel()
        channel.queue_declare("short-lived", durable=True)
        channel.basic_publish("", "short-lived", b"x", PERSISTENT)
        channel.queue_delete("short-lived")
        channel.queue_declare("purged", durable=True)
        channel.basic_publish("", "purged", b"x", PERSISTENT)
        channel.queue_purge("purged")
        connection.close()
    with broker_on(data_dir) as broker:
        connection = connect(broker.url)
        channel = connection.channel()
        assert channel.queue_declare("purged", passive=True).method.message_count == 0
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as closed:
            channel.queue_declare("short-lived", passive=True)
        assert closed.value.reply_code == 404
        connection.close()


def publish_confirmed(url: str, queue: str, bodies: list[bytes]) -> None:
    connection = connect(url)
    channel = connection.channel()
    channel.confirm_delivery()
    channel.queue_declare(queue, durable=True)
    for body in bodies:
        channel.basic_publish("", queue, body, PERSISTENT)
    connection.close()


def test_torn_last_write_is_dropped_not_served(data_dir: str) -> None:
    with broker_on(data_dir) as broker:
        publish_confirmed(broker.url, "t", [b"one", b"two", b"three"])
    (segment,) = Path(data_dir, "queues").glob("*/*.seg")
    whole = segment.read_bytes()
    # power lost in the middle of writing "three": only half of its record reached the disk
    segment.write_bytes(whole[: len(whole) - 8])
    with broker_on(data_dir) as broker:
        last_offset = scan_segment(whole)[0][-1][0]
        assert segment.read_bytes() == whole[:last_offset]  # the torn record is cut off
        assert [body for _, _, body in drain(broker.url, "t")] == [b"one", b"two"]
    assert not segment.exists()  # every record in it acked: deleted


def test_zero_filled_tail_after_power_loss_is_ignored(data_dir: str) -> None:
    with broker_on(data_dir) as broker:
        publish_confirmed(broker.url, "z", [b"kept"])
    (segment,) = Path(data_dir, "queues").glob("*/*.seg")
    segment.write_bytes(segment.read_bytes() + bytes(4096))
    with broker_on(data_dir) as broker:
        assert [body for _, _, body in drain(broker.url, "z")] == [b"kept"]


def test_message_ttl_counts_from_the_restart_not_from_a_stale_clock(data_dir: str) -> None:
    with broker_on(data_dir) as broker:
        connection = connect(broker.url)
        channel = connection.channel()
        channel.queue_declare("ttl", durable=True, arguments={"x-message-ttl": 60_000})
        channel.basic_publish("", "ttl", b"fresh", PERSISTENT)
        connection.close()
    with broker_on(data_dir) as broker:
        assert [body for _, _, body in drain(broker.url, "ttl")] == [b"fresh"]
