# The test controls of BrokerThread (sync and asyncio callers): injection, reset, publish
# history and deterministic waits, checked with real pika and aio-pika clients.
from __future__ import annotations

import asyncio
import threading

import aio_pika
import pika
import pytest
from amqp_clients import connect

from amqp_broker.controls import WaitTimeoutError
from amqp_broker.errors import AMQPError, ReplyCode
from amqp_broker.testing import BrokerThread


def test_publish_into_exchange_reaches_a_pika_consumer_with_its_properties(
    amqp_broker: BrokerThread, amqp_vhost: str, amqp_url: str
) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("orders")
        channel.queue_bind("orders", "amq.topic", "order.*")
        reached = amqp_broker.publish(
            "amq.topic",
            "order.created",
            b'{"id": 7}',
            properties={"content_type": "application/json", "headers": {"v": 2}, "type": "t"},
            vhost=amqp_vhost,
        )
        method, properties, body = channel.basic_get("orders", auto_ack=True)
    assert reached == ["orders"]
    assert body == b'{"id": 7}'
    assert (method.exchange, method.routing_key) == ("amq.topic", "order.created")
    assert properties.content_type == "application/json"
    assert properties.headers == {"v": 2} and properties.type == "t"


def test_publish_to_queue_wakes_a_waiting_consumer_at_once(
    amqp_broker: BrokerThread, amqp_vhost: str, amqp_url: str
) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("inbox")
        amqp_broker.publish_to_queue("inbox", b"hello", vhost=amqp_vhost)
        [(method, _, body)] = [next(channel.consume("inbox", auto_ack=True, inactivity_timeout=5))]
        channel.cancel()
    assert body == b"hello" and method is not None and method.routing_key == "inbox"


def test_publish_refuses_what_a_client_would_be_refused(
    amqp_broker: BrokerThread, amqp_vhost: str
) -> None:
    with pytest.raises(AMQPError) as unknown:
        amqp_broker.publish("nowhere", "", b"x", vhost=amqp_vhost)
    assert unknown.value.code == ReplyCode.NOT_FOUND
    with pytest.raises(AMQPError) as internal:
        amqp_broker.publish("amq.rabbitmq.trace", "", b"x", vhost=amqp_vhost)
    assert internal.value.code == ReplyCode.ACCESS_REFUSED
    with pytest.raises(AMQPError, match="no queue 'ghost'") as missing:
        amqp_broker.publish_to_queue("ghost", b"x", vhost=amqp_vhost)
    assert missing.value.code == ReplyCode.NOT_FOUND
    # Unroutable is not an error, as for a client without mandatory: nothing is reached.
    assert amqp_broker.publish("amq.direct", "nobody", b"x", vhost=amqp_vhost) == []


def test_reset_leaves_only_the_predeclared_exchanges_and_cancels_consumers(
    amqp_broker: BrokerThread, amqp_vhost: str, amqp_url: str
) -> None:
    before = {view.name for view in amqp_broker.exchanges(amqp_vhost)}
    cancelled: list[str] = []
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.exchange_declare("events", "fanout")
        channel.queue_declare("q")
        channel.queue_bind("q", "events")
        channel.queue_bind("q", "amq.direct", "k")
        channel.basic_publish("", "q", b"left over")
        channel.add_on_cancel_callback(lambda frame: cancelled.append(frame.method.consumer_tag))
        channel.basic_consume("q", lambda *args: None, consumer_tag="c1")
        amqp_broker.reset(amqp_vhost)
        amqp_broker.wait_for(lambda: connection.process_data_events(0) or cancelled)
        assert channel.is_open  # the connection and channel survive a reset
        channel.queue_declare("q")  # and the vhost is usable at once
        ready = channel.queue_declare("q", passive=True).method.message_count
    assert cancelled == ["c1"]
    assert ready == 0
    assert {view.name for view in amqp_broker.exchanges(amqp_vhost)} == before
    assert amqp_broker.bindings(amqp_vhost)[1:] == []  # only the new queue's default binding


def test_publish_history_is_opt_in_bounded_and_names_the_queues_reached(
    amqp_broker: BrokerThread, amqp_vhost: str, amqp_url: str
) -> None:
    with pytest.raises(KeyError, match="not recorded"):
        amqp_broker.published("amq.topic", vhost=amqp_vhost)
    amqp_broker.record_publishes("amq.topic", vhost=amqp_vhost, limit=2)
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.confirm_delivery()  # each publish is applied before basic_publish returns
        channel.queue_declare("a.q")
        channel.queue_bind("a.q", "amq.topic", "a.*")
        channel.basic_publish("amq.topic", "a.1", b"one")
        channel.basic_publish("amq.topic", "a.2", b"two", pika.BasicProperties(headers={"h": 1}))
        channel.basic_publish("amq.topic", "b.3", b"three")
    published = amqp_broker.published("amq.topic", vhost=amqp_vhost)
    assert [(m.body, m.routing_key, m.routed_to) for m in published] == [
        (b"two", "a.2", ("a.q",)),
        (b"three", "b.3", ()),
    ]
    assert published[0].headers == {"h": 1}


def test_wait_for_queue_has_returns_as_soon_as_async_publishes_arrive(
    amqp_broker: BrokerThread, amqp_vhost: str, amqp_url: str
) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("q")
        for n in range(3):
            channel.basic_publish("", "q", b"%d" % n)  # no reply: still on its way
        assert amqp_broker.wait_for(amqp_broker.queue_has("q", ready=3, vhost=amqp_vhost))
        assert [m.body for m in amqp_broker.peek("q", vhost=amqp_vhost)] == [b"0", b"1", b"2"]


def test_wait_for_acked_and_queue_empty_follow_a_consumer(
    amqp_broker: BrokerThread, amqp_vhost: str, amqp_url: str
) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("jobs")
        amqp_broker.publish_to_queue("jobs", b"a", vhost=amqp_vhost)
        amqp_broker.publish_to_queue("jobs", b"b", vhost=amqp_vhost)
        for method, _, _ in channel.consume("jobs", inactivity_timeout=5):
            assert method is not None
            channel.basic_ack(method.delivery_tag)  # no reply: the wait proves it arrived
            if method.delivery_tag == 2:
                break
        amqp_broker.wait_for(amqp_broker.acked("jobs", 2, vhost=amqp_vhost))
        amqp_broker.wait_for(amqp_broker.queue_empty("jobs", vhost=amqp_vhost))
        channel.cancel()


def test_wait_for_times_out_with_the_condition_named(
    amqp_broker: BrokerThread, amqp_vhost: str
) -> None:
    with pytest.raises(WaitTimeoutError) as timed_out:
        amqp_broker.wait_for(amqp_broker.queue_has("q", ready=5, vhost=amqp_vhost), timeout=0.05)
    assert str(timed_out.value) == (
        f"timed out after 0.05 s waiting for queue 'q' in vhost '{amqp_vhost}' to have 5 ready"
    )
    with pytest.raises(WaitTimeoutError, match="waiting for the reply"):
        amqp_broker.wait_for(lambda: False, timeout=0.01, what="the reply")
    with pytest.raises(WaitTimeoutError, match=r"lambda: 1 \+ 1 == 3"):
        amqp_broker.wait_for(lambda: 1 + 1 == 3, timeout=0.01)


def test_wait_for_sees_client_side_state_changed_by_another_thread(
    amqp_broker: BrokerThread,
) -> None:
    received: list[bytes] = []
    timer = threading.Timer(0.05, lambda: received.append(b"late"))
    timer.start()
    assert amqp_broker.wait_for(lambda: received) == [b"late"]


def test_wait_for_async_lets_an_aio_pika_consumer_run(
    amqp_broker: BrokerThread, amqp_vhost: str, amqp_url: str
) -> None:
    async def scenario() -> list[bytes]:
        received: list[bytes] = []
        async with await aio_pika.connect(amqp_url) as connection:
            channel = await connection.channel()
            queue = await channel.declare_queue("tasks")

            async def handle(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                async with message.process():
                    received.append(message.body)

            await queue.consume(handle)
            await amqp_broker.wait_for_async(amqp_broker.consumer_on("tasks", vhost=amqp_vhost))
            amqp_broker.publish_to_queue("tasks", b"job", vhost=amqp_vhost)
            await amqp_broker.wait_for_async(lambda: received)
            await amqp_broker.wait_for_async(amqp_broker.acked("tasks", vhost=amqp_vhost))
        return received

    assert asyncio.run(scenario()) == [b"job"]
