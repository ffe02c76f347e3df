# Inspection views against a broker that real pika clients have put into a known state.
from __future__ import annotations

import pika
import pytest
from amqp_clients import connect, vhost_of

from amqp_broker import inspection
from amqp_broker.testing import BrokerThread


def test_exchanges_include_the_predeclared_ones_and_declared_ones(
    amqp_broker: BrokerThread, amqp_url: str
) -> None:
    vhost = vhost_of(amqp_url)
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.exchange_declare(
            "orders", "topic", durable=True, arguments={"alternate-exchange": "unrouted"}
        )
        views = amqp_broker.call(lambda: inspection.list_exchanges(amqp_broker.broker, vhost))
    by_name = {view.name: view for view in views}
    assert {"", "amq.direct", "amq.fanout", "amq.topic", "amq.headers", "amq.match"} <= set(by_name)
    assert by_name["orders"] == inspection.ExchangeInfo(
        name="orders",
        vhost=vhost,
        type="topic",
        durable=True,
        auto_delete=False,
        internal=False,
        arguments={"alternate-exchange": "unrouted"},
    )
    assert by_name["amq.rabbitmq.trace"].internal is True


def test_queue_counts_ready_unacked_and_consumers(amqp_broker: BrokerThread, amqp_url: str) -> None:
    vhost = vhost_of(amqp_url)
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("work", arguments={"x-max-priority": 5})
        for n in range(3):
            channel.basic_publish("", "work", b"job-%d" % n)
        channel.basic_get("work")  # one unacked, two ready
        channel.basic_consume("work", lambda *args: None)  # takes the other two
        channel.queue_declare("idle")
        connection.process_data_events(0)
        work = amqp_broker.call(lambda: inspection.get_queue(amqp_broker.broker, vhost, "work"))
        listed = amqp_broker.call(lambda: inspection.list_queues(amqp_broker.broker, vhost))
    assert work is not None
    assert (work.messages_ready, work.messages_unacknowledged, work.messages) == (0, 3, 3)
    assert work.consumers == 1
    assert work.arguments == {"x-max-priority": 5}
    assert (work.durable, work.exclusive, work.auto_delete) == (False, False, False)
    assert [view.name for view in listed] == ["work", "idle"]
    assert listed[1].messages_ready == 0


def test_get_queue_is_none_for_unknown_queue_or_vhost(amqp_broker: BrokerThread) -> None:
    broker = amqp_broker.broker
    assert amqp_broker.call(lambda: inspection.get_queue(broker, "/", "nope")) is None
    assert amqp_broker.call(lambda: inspection.get_queue(broker, "no-vhost", "q")) is None


def test_exclusive_queue_names_its_owner_connection(
    amqp_broker: BrokerThread, amqp_url: str
) -> None:
    vhost = vhost_of(amqp_url)
    with connect(amqp_url) as connection:
        name = connection.channel().queue_declare("", exclusive=True).method.queue
        queue = amqp_broker.call(lambda: inspection.get_queue(amqp_broker.broker, vhost, name))
        connections = amqp_broker.call(lambda: inspection.list_connections(amqp_broker.broker))
    assert queue is not None and queue.exclusive
    [mine] = [view for view in connections if view.vhost == vhost]
    assert queue.owner_connection == mine.number


def test_bindings_list_default_exchange_queue_and_exchange_bindings(
    amqp_broker: BrokerThread, amqp_url: str
) -> None:
    vhost = vhost_of(amqp_url)
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("q")
        channel.exchange_declare("e", "headers")
        channel.queue_bind("q", "e", "", arguments={"x-match": "any", "kind": "a"})
        channel.exchange_bind("e", "amq.topic", "a.#")
        views = amqp_broker.call(lambda: inspection.list_bindings(amqp_broker.broker, vhost))
    assert views == [
        inspection.BindingInfo("", vhost, "q", "queue", "q"),
        inspection.BindingInfo("amq.topic", vhost, "e", "exchange", "a.#"),
        inspection.BindingInfo("e", vhost, "q", "queue", "", {"kind": "a", "x-match": "any"}),
    ]


def test_connections_and_channels_show_negotiated_settings_and_modes(
    amqp_broker: BrokerThread, amqp_url: str
) -> None:
    vhost = vhost_of(amqp_url)
    parameters = pika.URLParameters(amqp_url)
    parameters.client_properties = {"connection_name": "inspected"}
    with pika.BlockingConnection(parameters) as connection:
        plain = connection.channel()
        plain.basic_qos(prefetch_count=7)
        confirming = connection.channel()
        confirming.confirm_delivery()
        transactional = connection.channel()
        transactional.tx_select()
        local_port = connection._impl._transport._sock.getsockname()[1]  # type: ignore[union-attr]
        conns = amqp_broker.call(lambda: inspection.list_connections(amqp_broker.broker))
        chans = amqp_broker.call(lambda: inspection.list_channels(amqp_broker.broker))
    [conn] = [view for view in conns if view.vhost == vhost]
    assert (conn.user, conn.state, conn.channels) == ("guest", "running", 3)
    assert (conn.peer_host, conn.peer_port) == ("127.0.0.1", local_port)
    assert conn.name == f"127.0.0.1:{local_port}"
    assert conn.client_properties["connection_name"] == "inspected"
    assert conn.timeout == 60 and conn.frame_max == 131072 and not conn.blocked
    mine = sorted(
        (view for view in chans if view.connection == conn.number), key=lambda v: v.number
    )
    assert [(c.number, c.prefetch_count, c.confirm, c.transactional) for c in mine] == [
        (1, 7, False, False),
        (2, 0, True, False),
        (3, 0, False, True),
    ]
    assert mine[0].name == f"127.0.0.1:{local_port} (1)"


def test_consumers_and_channel_unacked(amqp_broker: BrokerThread, amqp_url: str) -> None:
    vhost = vhost_of(amqp_url)
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.basic_qos(prefetch_count=2)
        channel.queue_declare("q")
        for _ in range(3):
            channel.basic_publish("", "q", b"x")
        channel.basic_consume("q", lambda *args: None, consumer_tag="c1", exclusive=True)
        connection.process_data_events(0)
        consumers = amqp_broker.call(lambda: inspection.list_consumers(amqp_broker.broker, vhost))
        channels = amqp_broker.call(lambda: inspection.list_channels(amqp_broker.broker))
    [consumer] = consumers
    assert (consumer.consumer_tag, consumer.queue, consumer.vhost) == ("c1", "q", vhost)
    assert consumer.ack_required and consumer.exclusive
    assert (consumer.prefetch_count, consumer.messages_unacknowledged) == (2, 2)
    [channel_view] = [view for view in channels if view.connection == consumer.connection]
    assert channel_view.messages_unacknowledged == 2 and channel_view.consumer_count == 1


def test_peek_shows_ready_messages_in_delivery_order_without_taking_them(
    amqp_broker: BrokerThread, amqp_url: str
) -> None:
    vhost = vhost_of(amqp_url)
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("q")
        channel.queue_bind("q", "amq.direct", "rk")
        properties = pika.BasicProperties(
            content_type="application/json",
            headers={"attempt": 1},
            message_id="m1",
            type="order.created",
        )
        channel.basic_publish("amq.direct", "rk", b'{"a": 1}', properties)
        channel.basic_publish("", "q", b"second")
        channel.basic_publish("", "q", b"third")
        method, _, _ = channel.basic_get("q")
        channel.basic_nack(method.delivery_tag, requeue=True)  # first goes back, redelivered
        channel.queue_declare("q", passive=True)  # a round trip: the nack has been applied
        peeked = amqp_broker.call(lambda: inspection.peek_messages(amqp_broker.broker, vhost, "q"))
        limited = amqp_broker.call(
            lambda: inspection.peek_messages(amqp_broker.broker, vhost, "q", limit=1)
        )
        # Peeking changed nothing: a consumer still gets all three, first one redelivered.
        received = [channel.basic_get("q", auto_ack=True) for _ in range(3)]
    first = peeked[0]
    assert first.body == b'{"a": 1}' and first.payload_bytes == 8
    assert first.properties == {
        "content_type": "application/json",
        "headers": {"attempt": 1},
        "message_id": "m1",
        "type": "order.created",
    }
    assert first.headers == {"attempt": 1}
    assert (first.redelivered, first.exchange, first.routing_key) == (True, "amq.direct", "rk")
    assert [m.body for m in peeked[1:]] == [b"second", b"third"]
    assert [m.redelivered for m in peeked[1:]] == [False, False]
    assert peeked[1].properties == {} and peeked[1].headers == {}
    assert limited == peeked[:1]
    assert [body for _, _, body in received] == [b'{"a": 1}', b"second", b"third"]
    assert received[0][0].redelivered is True


def test_peek_unknown_queue_raises_key_error_naming_it(amqp_broker: BrokerThread) -> None:
    with pytest.raises(KeyError, match="no queue 'ghost' in vhost '/'"):
        amqp_broker.call(lambda: inspection.peek_messages(amqp_broker.broker, "/", "ghost"))


def test_vhosts_count_messages(amqp_broker: BrokerThread, amqp_url: str) -> None:
    vhost = vhost_of(amqp_url)
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("q")
        channel.basic_publish("", "q", b"1")
        channel.basic_publish("", "q", b"2")
        channel.basic_get("q")
        views = amqp_broker.call(lambda: inspection.list_vhosts(amqp_broker.broker))
    [mine] = [view for view in views if view.name == vhost]
    assert (mine.messages, mine.messages_ready, mine.messages_unacknowledged) == (2, 1, 1)
    assert "/" in {view.name for view in views}
