# Routing over pika: bindings with arguments, headers matching, topic words, exchange-to-exchange
# bindings (cycles included), alternate exchanges with mandatory publishes, and one copy per queue.
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pika
import pika.exceptions
import pytest
from pika.adapters.blocking_connection import BlockingChannel

pytestmark = pytest.mark.timeout(5)


@pytest.fixture
def channel(amqp_url: str) -> Iterator[BlockingChannel]:
    with pika.BlockingConnection(pika.URLParameters(amqp_url)) as connection:
        yield connection.channel()


def _drain(channel: BlockingChannel, queue: str) -> list[bytes]:
    """Every message ready in the queue, acknowledged, in order."""
    bodies = []
    while True:
        method, _properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return bodies
        bodies.append(body)


def _queues(channel: BlockingChannel, *names: str) -> None:
    for name in names:
        channel.queue_declare(name)


def _publish_headers(channel: BlockingChannel, exchange: str, headers: dict[str, Any]) -> None:
    channel.basic_publish(
        exchange, "ignored", repr(headers).encode(), pika.BasicProperties(headers=headers)
    )


# ---- direct and fanout --------------------------------------------------------------------


def test_direct_routes_by_exact_key_only(channel: BlockingChannel) -> None:
    channel.exchange_declare("x", exchange_type="direct")
    _queues(channel, "high", "empty-key")
    channel.queue_bind("high", "x", "high")
    channel.queue_bind("empty-key", "x", "")
    for key in ("high", "HIGH", "high.", "", "low"):
        channel.basic_publish("x", key, key.encode())
    assert _drain(channel, "high") == [b"high"]
    assert _drain(channel, "empty-key") == [b""]


def test_fanout_ignores_routing_key(channel: BlockingChannel) -> None:
    channel.exchange_declare("x", exchange_type="fanout")
    _queues(channel, "a", "b")
    channel.queue_bind("a", "x", "whatever")
    channel.queue_bind("b", "x")
    channel.basic_publish("x", "some.key", b"all")
    assert _drain(channel, "a") == [b"all"]
    assert _drain(channel, "b") == [b"all"]


def test_queue_unbind_stops_routing(channel: BlockingChannel) -> None:
    channel.exchange_declare("x", exchange_type="direct")
    _queues(channel, "q")
    channel.queue_bind("q", "x", "k")
    channel.basic_publish("x", "k", b"before")
    channel.queue_unbind("q", "x", "k")
    channel.basic_publish("x", "k", b"after")
    assert _drain(channel, "q") == [b"before"]


def test_unbind_of_missing_binding_succeeds(channel: BlockingChannel) -> None:
    channel.exchange_declare("x", exchange_type="direct")
    _queues(channel, "q")
    assert isinstance(channel.queue_unbind("q", "x", "never").method, pika.spec.Queue.UnbindOk)


def test_queue_reached_by_several_bindings_gets_one_copy(channel: BlockingChannel) -> None:
    channel.exchange_declare("t", exchange_type="topic")
    _queues(channel, "q")
    for key in ("a.b", "a.*", "#", "*.b", "a.#"):
        channel.queue_bind("q", "t", key)
    channel.basic_publish("t", "a.b", b"once")
    assert _drain(channel, "q") == [b"once"]


def test_bindings_differing_only_in_arguments_are_separate(channel: BlockingChannel) -> None:
    channel.exchange_declare("x", exchange_type="direct")
    _queues(channel, "q")
    channel.queue_bind("q", "x", "k", arguments={"tag": 1})
    channel.queue_bind("q", "x", "k", arguments={"tag": 2})
    channel.queue_unbind("q", "x", "k", arguments={"tag": 1})
    channel.basic_publish("x", "k", b"still-bound")
    channel.queue_unbind("q", "x", "k", arguments={"tag": 2})
    channel.basic_publish("x", "k", b"unbound")
    assert _drain(channel, "q") == [b"still-bound"]


# ---- topic ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("binding", "matching", "not_matching"),
    [
        ("#", ["", "a", "a.b.c", "."], []),
        ("*", ["a"], ["", "a.b", "."]),
        ("a.*", ["a.b", "a."], ["a", "a.b.c"]),
        ("a.#", ["a", "a.b", "a.b.c"], ["b.a", "ab"]),
        ("a..b", ["a..b"], ["a.b", "a.x.b"]),
        ("*.*", [".", "a.b"], ["a", "a.b.c"]),
        ("a.#.#.b", ["a.b", "a.x.y.b"], ["a", "b"]),
        ("", [""], ["a", "."]),
        ("a.*", ["a.*"], ["b.*"]),
    ],
)
def test_topic_word_rules(
    channel: BlockingChannel, binding: str, matching: list[str], not_matching: list[str]
) -> None:
    channel.exchange_declare("t", exchange_type="topic")
    _queues(channel, "q")
    channel.queue_bind("q", "t", binding)
    for key in matching + not_matching:
        channel.basic_publish("t", key, key.encode())
    assert _drain(channel, "q") == [key.encode() for key in matching]


def test_topic_wildcards_in_routing_key_are_literal(channel: BlockingChannel) -> None:
    channel.exchange_declare("t", exchange_type="topic")
    _queues(channel, "q")
    channel.queue_bind("q", "t", "a.b")
    channel.basic_publish("t", "a.*", b"star")
    channel.basic_publish("t", "#", b"hash")
    channel.basic_publish("t", "a.b", b"exact")
    assert _drain(channel, "q") == [b"exact"]


# ---- headers (pika cannot encode floats: int/float cases are in test_exchanges_kombu) ----


@pytest.mark.parametrize(
    ("arguments", "headers", "routed"),
    [
        ({"x-match": "all", "a": 1, "b": "x"}, {"a": 1, "b": "x", "c": 3}, True),
        ({"x-match": "all", "a": 1, "b": "x"}, {"a": 1}, False),
        ({"a": 1, "b": "x"}, {"a": 1}, False),  # all is the default
        ({"x-match": "any", "a": 1, "b": "x"}, {"b": "x"}, True),
        ({"x-match": "any", "a": 1, "b": "x"}, {"a": 2, "c": 1}, False),
        ({"x-match": "all", "n": 1}, {"n": 1}, True),
        ({"x-match": "all", "n": 1}, {"n": True}, False),
        ({"x-match": "all", "n": True}, {"n": 1}, False),
        ({"x-match": "all", "n": True}, {"n": True}, True),
        ({"x-match": "all", "n": "1"}, {"n": 1}, False),
        ({"x-match": "all", "x-a": 1}, {}, True),  # x- keys ignored: nothing left to compare
        ({"x-match": "any", "x-a": 1}, {"x-a": 1}, False),
        ({"x-match": "all-with-x", "x-a": 1}, {}, False),
        ({"x-match": "all-with-x", "x-a": 1}, {"x-a": 1}, True),
        ({"x-match": "any-with-x", "x-a": 1, "b": 2}, {"x-a": 1}, True),
        ({"x-match": "any-with-x", "x-a": 1, "b": 2}, {"x-a": 2}, False),
        ({"x-match": "all", "flag": None}, {"flag": "anything"}, True),
        ({"x-match": "all", "flag": None}, {"other": 1}, False),
    ],
)
def test_headers_matching(
    channel: BlockingChannel, arguments: dict[str, Any], headers: dict[str, Any], routed: bool
) -> None:
    channel.exchange_declare("h", exchange_type="headers")
    _queues(channel, "q")
    channel.queue_bind("q", "h", arguments=arguments)
    _publish_headers(channel, "h", headers)
    assert len(_drain(channel, "q")) == (1 if routed else 0)


def test_headers_all_with_no_listed_headers_matches_message_without_headers(
    channel: BlockingChannel,
) -> None:
    channel.exchange_declare("h", exchange_type="headers")
    _queues(channel, "q")
    channel.queue_bind("q", "h", arguments={"x-match": "all"})
    channel.basic_publish("h", "", b"bare")
    assert _drain(channel, "q") == [b"bare"]


def test_headers_unbind_with_same_arguments_stops_routing(channel: BlockingChannel) -> None:
    channel.exchange_declare("h", exchange_type="headers")
    _queues(channel, "q")
    arguments = {"x-match": "any", "a": 1}
    channel.queue_bind("q", "h", arguments=arguments)
    _publish_headers(channel, "h", {"a": 1})
    channel.queue_unbind("q", "h", arguments=arguments)
    _publish_headers(channel, "h", {"a": 1})
    assert len(_drain(channel, "q")) == 1


def test_headers_bad_x_match_closes_channel_406(channel: BlockingChannel) -> None:
    channel.exchange_declare("h", exchange_type="headers")
    _queues(channel, "q")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        channel.queue_bind("q", "h", arguments={"x-match": "bogus"})
    assert info.value.reply_code == 406
    assert info.value.reply_text == (
        'PRECONDITION_FAILED - Invalid x-match field value <<"bogus">>; '
        "expected all, any, all-with-x, or any-with-x"
    )


# ---- exchange-to-exchange ------------------------------------------------------------------


def test_exchange_binding_routes_by_source_rules_then_destination_rules(
    channel: BlockingChannel,
) -> None:
    channel.exchange_declare("all-events", exchange_type="topic")
    channel.exchange_declare("billing", exchange_type="fanout")
    channel.exchange_bind(destination="billing", source="all-events", routing_key="billing.#")
    _queues(channel, "invoices")
    channel.queue_bind("invoices", "billing")
    channel.basic_publish("all-events", "billing.paid", b"paid")
    channel.basic_publish("all-events", "shipping.sent", b"sent")
    assert _drain(channel, "invoices") == [b"paid"]
    channel.exchange_unbind(destination="billing", source="all-events", routing_key="billing.#")
    channel.basic_publish("all-events", "billing.paid", b"after-unbind")
    assert _drain(channel, "invoices") == []


def test_exchange_binding_with_headers_source(channel: BlockingChannel) -> None:
    channel.exchange_declare("h", exchange_type="headers")
    channel.exchange_declare("d", exchange_type="direct")
    channel.exchange_bind(destination="d", source="h", arguments={"x-match": "any", "k": "v"})
    _queues(channel, "q")
    channel.queue_bind("q", "d", "rk")
    _publish_headers(channel, "h", {"k": "v"})  # routing key "ignored" does not match "rk"
    channel.basic_publish("h", "rk", b"match", pika.BasicProperties(headers={"k": "v"}))
    assert _drain(channel, "q") == [b"match"]


def test_exchange_cycle_terminates_and_delivers_once(channel: BlockingChannel) -> None:
    channel.exchange_declare("e1", exchange_type="fanout")
    channel.exchange_declare("e2", exchange_type="fanout")
    channel.exchange_bind(destination="e2", source="e1")
    channel.exchange_bind(destination="e1", source="e2")
    _queues(channel, "q1", "q2")
    channel.queue_bind("q1", "e1")
    channel.queue_bind("q2", "e2")
    channel.basic_publish("e1", "", b"loop")
    assert _drain(channel, "q1") == [b"loop"]
    assert _drain(channel, "q2") == [b"loop"]


def test_exchange_bound_to_itself_delivers_once(channel: BlockingChannel) -> None:
    channel.exchange_declare("e", exchange_type="fanout")
    channel.exchange_bind(destination="e", source="e")
    _queues(channel, "q")
    channel.queue_bind("q", "e")
    channel.basic_publish("e", "", b"self")
    assert _drain(channel, "q") == [b"self"]


def test_queue_reached_through_two_paths_gets_one_copy(channel: BlockingChannel) -> None:
    channel.exchange_declare("top", exchange_type="fanout")
    channel.exchange_declare("left", exchange_type="fanout")
    channel.exchange_declare("right", exchange_type="fanout")
    channel.exchange_bind(destination="left", source="top")
    channel.exchange_bind(destination="right", source="top")
    _queues(channel, "q")
    channel.queue_bind("q", "left")
    channel.queue_bind("q", "right")
    channel.queue_bind("q", "top")
    channel.basic_publish("top", "", b"diamond")
    assert _drain(channel, "q") == [b"diamond"]


def test_deleting_destination_exchange_removes_exchange_binding(channel: BlockingChannel) -> None:
    channel.exchange_declare("src", exchange_type="fanout")
    channel.exchange_declare("dst", exchange_type="fanout")
    channel.exchange_bind(destination="dst", source="src")
    channel.exchange_delete("dst")
    channel.exchange_declare("dst", exchange_type="fanout")
    _queues(channel, "q")
    channel.queue_bind("q", "dst")
    channel.basic_publish("src", "", b"old-binding")
    assert _drain(channel, "q") == []


def test_exchange_bind_to_default_exchange_closes_channel_403(channel: BlockingChannel) -> None:
    channel.exchange_declare("x", exchange_type="fanout")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        channel.exchange_bind(destination="", source="x")
    assert info.value.reply_code == 403
    assert info.value.reply_text == (
        "ACCESS_REFUSED - operation not permitted on the default exchange"
    )


def test_exchange_bind_missing_source_closes_channel_404(
    amqp_url: str, channel: BlockingChannel
) -> None:
    channel.exchange_declare("dst", exchange_type="fanout")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        channel.exchange_bind(destination="dst", source="missing")
    assert info.value.reply_code == 404
    vhost = amqp_url.rsplit("/", 1)[1]
    assert info.value.reply_text == f"NOT_FOUND - no exchange 'missing' in vhost '{vhost}'"


# ---- alternate exchanges -------------------------------------------------------------------


def _with_alternate(channel: BlockingChannel) -> None:
    """ "orders" (direct, bound "known" -> q-orders) with alternate "unrouted" (fanout)."""
    channel.exchange_declare("unrouted", exchange_type="fanout")
    channel.exchange_declare(
        "orders", exchange_type="direct", arguments={"alternate-exchange": "unrouted"}
    )
    _queues(channel, "q-orders", "q-unrouted")
    channel.queue_bind("q-orders", "orders", "known")


def test_unroutable_message_goes_to_alternate_exchange(channel: BlockingChannel) -> None:
    _with_alternate(channel)
    channel.queue_bind("q-unrouted", "unrouted")
    channel.basic_publish("orders", "known", b"routed")
    channel.basic_publish("orders", "unknown", b"spilled")
    assert _drain(channel, "q-orders") == [b"routed"]
    assert _drain(channel, "q-unrouted") == [b"spilled"]


def test_mandatory_publish_via_working_alternate_is_not_returned(
    channel: BlockingChannel,
) -> None:
    _with_alternate(channel)
    channel.queue_bind("q-unrouted", "unrouted")
    channel.confirm_delivery()
    channel.basic_publish("orders", "unknown", b"spilled", mandatory=True)
    assert _drain(channel, "q-unrouted") == [b"spilled"]


def test_mandatory_publish_returned_when_alternate_also_fails(channel: BlockingChannel) -> None:
    _with_alternate(channel)  # "unrouted" has no bindings
    channel.confirm_delivery()
    with pytest.raises(pika.exceptions.UnroutableError) as info:
        channel.basic_publish("orders", "unknown", b"lost", mandatory=True)
    [returned] = info.value.messages
    assert returned.method.reply_code == 312
    assert returned.method.reply_text == "NO_ROUTE"
    assert returned.method.exchange == "orders"
    assert returned.body == b"lost"


def test_missing_alternate_exchange_drops_message(channel: BlockingChannel) -> None:
    channel.exchange_declare("x", exchange_type="direct", arguments={"alternate-exchange": "gone"})
    channel.confirm_delivery()
    with pytest.raises(pika.exceptions.UnroutableError):
        channel.basic_publish("x", "k", b"lost", mandatory=True)


def test_alternate_exchange_chain_and_cycle(channel: BlockingChannel) -> None:
    channel.exchange_declare("a", exchange_type="direct", arguments={"alternate-exchange": "b"})
    channel.exchange_declare("b", exchange_type="direct", arguments={"alternate-exchange": "a"})
    channel.confirm_delivery()
    with pytest.raises(pika.exceptions.UnroutableError):
        channel.basic_publish("a", "k", b"cycle", mandatory=True)
    _queues(channel, "q")
    channel.queue_bind("q", "b", "k")
    channel.basic_publish("a", "k", b"via-b", mandatory=True)
    assert _drain(channel, "q") == [b"via-b"]


def test_alternate_not_used_when_exchange_routes_to_an_exchange(channel: BlockingChannel) -> None:
    # RabbitMQ consults the alternate only when the exchange's own bindings match nothing,
    # even if what they match routes nowhere further.
    _with_alternate(channel)
    channel.queue_bind("q-unrouted", "unrouted")
    channel.exchange_declare("sink", exchange_type="fanout")
    channel.exchange_bind(destination="sink", source="orders", routing_key="to-sink")
    channel.basic_publish("orders", "to-sink", b"dropped")
    assert _drain(channel, "q-unrouted") == []
