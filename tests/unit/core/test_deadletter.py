# Dead-lettered copies, compared with what RabbitMQ 3.10.8 wrote for the same steps (recorded on
# a private node): x-death entries, their key order, the x-first-death-* headers, the header
# table sorted by key, CC dropped with a dead-letter routing key, expiration moved into x-death.
from __future__ import annotations

import datetime
import struct
from typing import Any

from pamqp.commands import Basic

from amqp_broker.core.deadletter import dead_letter_copy, is_cycle
from amqp_broker.core.message import Message
from amqp_broker.protocol.codec import decode_content_header

NOW = 1795769005
STAMP = datetime.datetime.fromtimestamp(NOW, tz=datetime.UTC)


def _published() -> Message:
    properties = Basic.Properties(
        headers={"zz": 1, "aa": "x", "CC": ["cc1"], "mm": 2**40},
        expiration="60000",
        priority=3,
        message_id="m1",
        delivery_mode=2,
    )
    return Message("", "q1", properties.marshal(), properties, b"hello", ttl=60000)


def _die(message: Message, reason: str, queue: str, routing_key: str | None) -> Message:
    return dead_letter_copy(
        message, reason=reason, queue=queue, exchange="", routing_key=routing_key, posix_time=NOW
    )


def _wire_headers(message: Message) -> dict[str, Any]:
    """The headers as a consumer decodes them from the re-encoded property bytes."""
    payload = struct.pack(">HHQ", 60, 0, len(message.body)) + message.properties_raw
    decoded = decode_content_header(payload).properties
    assert decoded.expiration is None
    headers = decoded.headers
    assert isinstance(headers, dict)
    return headers


FIRST = {
    "count": 1,
    "reason": "rejected",
    "queue": "q1",
    "time": STAMP,
    "exchange": "",
    "routing-keys": ["q1", "cc1"],
    "original-expiration": "60000",
}


def test_first_death_rejected_with_dead_letter_routing_key() -> None:
    copy = _die(_published(), "rejected", "q1", "q2")
    assert (copy.exchange, copy.routing_key, copy.body) == ("", "q2", b"hello")
    properties = copy.properties
    assert (properties.priority, properties.message_id, properties.delivery_mode) == (3, "m1", 2)
    assert properties.expiration is None
    headers = properties.headers
    assert list(headers) == [
        "aa",
        "mm",
        "x-death",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
        "zz",
    ]
    assert headers["x-death"] == [FIRST]
    assert list(headers["x-death"][0]) == list(FIRST)  # the first entry is not re-sorted
    assert (headers["aa"], headers["mm"], headers["zz"]) == ("x", 2**40, 1)
    assert headers["x-first-death-reason"] == "rejected"
    assert headers["x-first-death-queue"] == "q1"
    assert headers["x-first-death-exchange"] == ""
    assert "x-last-death-reason" not in headers  # 3.10 writes only x-first-death-*
    wire = _wire_headers(copy)
    assert list(wire) == list(headers)
    assert wire["x-death"] == [FIRST]


def test_later_deaths_go_first_sorted_and_older_ones_are_regrouped() -> None:
    second = _die(_die(_published(), "rejected", "q1", "q2"), "expired", "q2", "q3")
    expired = {
        "count": 1,
        "exchange": "",
        "queue": "q2",
        "reason": "expired",
        "routing-keys": ["q2"],
        "time": STAMP,
    }
    deaths = second.properties.headers["x-death"]
    assert deaths == [expired, FIRST]
    assert list(deaths[0]) == list(expired)
    third = _die(second, "rejected", "q3", "q4")
    rejected = {**expired, "queue": "q3", "reason": "rejected", "routing-keys": ["q3"]}
    # RabbitMQ's grouping fold reverses the older entries: q1's now comes before q2's
    assert third.properties.headers["x-death"] == [rejected, FIRST, expired]
    assert _wire_headers(third)["x-death"] == [rejected, FIRST, expired]


def test_dying_again_in_the_same_queue_for_the_same_reason_counts() -> None:
    properties = Basic.Properties()
    message = Message("", "q5", properties.marshal(), properties, b"again")
    twice = _die(_die(message, "rejected", "q5", "q5"), "rejected", "q5", "q5")
    assert twice.properties.headers["x-death"] == [
        {
            "count": 2,
            "exchange": "",
            "queue": "q5",
            "reason": "rejected",
            "routing-keys": ["q5"],
            "time": STAMP,
        }
    ]


def test_without_dead_letter_routing_key_the_routing_key_and_cc_stay() -> None:
    properties = Basic.Properties(headers={"CC": ["other"]}, content_type="text/plain")
    message = Message("src", "rk1", properties.marshal(), properties, b"x")
    copy = dead_letter_copy(
        message, reason="expired", queue="qa", exchange="dlx", routing_key=None, posix_time=NOW
    )
    assert (copy.exchange, copy.routing_key) == ("dlx", "rk1")
    assert copy.properties.content_type == "text/plain"
    headers = copy.properties.headers
    assert headers["CC"] == ["other"]
    assert headers["x-death"][0]["routing-keys"] == ["rk1", "other"]
    assert headers["x-death"][0]["exchange"] == "src"
    assert headers["x-first-death-exchange"] == "src"


def test_byte_array_headers_survive_re_encoding() -> None:
    properties = Basic.Properties(headers={"blob": bytearray(b"\x00\x01")})
    wire = Message("", "q", properties.marshal(), properties, b"")
    decoded = decode_content_header(struct.pack(">HHQ", 60, 0, 0) + wire.properties_raw)
    message = Message("", "q", wire.properties_raw, decoded.properties, b"")
    assert _wire_headers(_die(message, "rejected", "q", None))["blob"] == b"\x00\x01"


def test_automatic_cycles_are_detected_rejections_break_them() -> None:
    properties = Basic.Properties()
    message = Message("", "qs", properties.marshal(), properties, b"x")
    expired_once = _die(message, "expired", "qs", None).properties.headers
    assert is_cycle("qs", expired_once)
    assert not is_cycle("other", expired_once)
    through_b = _die(_die(message, "expired", "a", "b"), "expired", "b", "a").properties.headers
    assert is_cycle("a", through_b)
    rejected_on_the_way = _die(_die(message, "expired", "a", "b"), "rejected", "b", "a")
    assert not is_cycle("a", rejected_on_the_way.properties.headers)
    assert not is_cycle("a", None)
    assert not is_cycle("a", {"x-death": "not an array"})


def test_wire_keeps_rabbitmq_key_order_and_long_counts() -> None:
    copy = _die(_published(), "rejected", "q1", "q2")
    assert list(_wire_headers(copy)["x-death"][0]) == list(FIRST)
    assert b"\x05countl\x00\x00\x00\x00\x00\x00\x00\x01" in copy.properties_raw
    twice = _die(_die(copy, "expired", "q2", "q1"), "rejected", "q1", "q2")
    assert twice.properties_raw.count(b"\x05countl") == 2
    assert b"\x05countl\x00\x00\x00\x00\x00\x00\x00\x02" in twice.properties_raw


def test_entries_a_client_sent_are_regrouped_and_keep_their_values() -> None:
    # 3.10.8 (recorded): a client publishes x-death [a/expired x3, b/rejected x1, b/rejected]
    # and the message is rejected in qx: [qx/rejected, b/rejected x1, a/expired x3]
    old = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    entries = [
        {
            "count": 3,
            "reason": "expired",
            "queue": "a",
            "time": old,
            "exchange": "",
            "routing-keys": ["a"],
        },
        {
            "count": 1,
            "reason": "rejected",
            "queue": "b",
            "time": old,
            "exchange": "",
            "routing-keys": ["b"],
        },
        {"reason": "rejected", "queue": "b", "time": old, "exchange": "", "routing-keys": ["b"]},
    ]
    properties = Basic.Properties(headers={"x-death": entries, "x-first-death-queue": "a"})
    wire = Message("", "qx", properties.marshal(), properties, b"R")
    decoded = decode_content_header(struct.pack(">HHQ", 60, 0, 1) + wire.properties_raw)
    message = Message("", "qx", wire.properties_raw, decoded.properties, b"R")
    headers = _wire_headers(_die(message, "rejected", "qx", "qy"))
    assert [(d["queue"], d["reason"], d["count"]) for d in headers["x-death"]] == [
        ("qx", "rejected", 1),
        ("b", "rejected", 1),
        ("a", "expired", 3),
    ]
    assert headers["x-first-death-queue"] == "a"  # not rewritten after the first death
    assert "x-first-death-reason" not in headers


def test_the_original_message_is_left_alone() -> None:
    # the same Message object may still sit in other queues the publish reached
    original = _die(_published(), "rejected", "q1", "q2")
    before = repr(original.properties.headers)
    _die(_die(original, "rejected", "q1", "q2"), "expired", "q2", "q3")
    assert repr(original.properties.headers) == before
