# Limits the protocol layer enforces before anything is buffered.
from __future__ import annotations

import struct

import pytest
from pamqp import commands
from protocol_client import (
    FakeAuthenticator,
    channel_close,
    closed_events,
    connection_close,
    content_body,
    content_header,
    feed,
    marshal,
    method_frame,
    nested_table,
    open_channel,
    open_connection,
    queue_declare_payload,
    raw_frame,
    sent,
    start_ok,
)

from amqp_broker.protocol.connection import AMQPConnection, ConnectionSettings
from amqp_broker.protocol.events import ContentReceived, MethodReceived
from amqp_broker.protocol.fieldscan import DEPTH_CEILING, TableLimits
from amqp_broker.protocol.framing import PROTOCOL_HEADER


def test_declared_body_above_max_message_size_closes_the_channel_at_the_header() -> None:
    conn = open_connection(settings=ConnectionSettings(max_message_size=10))
    open_channel(conn)
    data = (
        marshal(commands.Basic.Publish(routing_key="q"), 1)
        + content_header(1, 2**63)  # a huge declared size: refused before any body arrives
        + content_body(1, b"x" * 10)
    )
    events = feed(conn, data)
    assert not [event for event in events if isinstance(event, ContentReceived)]
    closed = channel_close(sent(conn))
    assert closed is not None
    number, close = closed
    assert number == 1
    assert (close.reply_code, close.class_id, close.method_id) == (406, 60, 40)
    assert close.reply_text == (
        f"PRECONDITION_FAILED - message size {2**63} is larger than configured max size 10"
    )
    assert conn.is_open  # only the channel closes; its body frames were dropped unread


def test_body_of_exactly_max_message_size_is_accepted() -> None:
    conn = open_connection(settings=ConnectionSettings(max_message_size=10))
    open_channel(conn)
    data = (
        marshal(commands.Basic.Publish(routing_key="q"), 1)
        + content_header(1, 10)
        + content_body(1, b"x" * 10)
    )
    events = feed(conn, data)
    assert [event.body for event in events if isinstance(event, ContentReceived)] == [b"x" * 10]


# ---- field tables: nesting depth and decoding cost (ConnectionSettings.table_limits) ----------


def _table_limited(**limits: int) -> AMQPConnection:
    conn = open_connection(settings=ConnectionSettings(table_limits=TableLimits(**limits)))
    open_channel(conn)
    return conn


def _headers_frame(channel: int, headers_table: bytes) -> bytes:
    """A basic content header whose only property is `headers` (flag bit 13)."""
    payload = (
        struct.pack(">HHQH", 60, 0, 0, 0x2000)
        + struct.pack(">I", len(headers_table))
        + headers_table
    )
    return raw_frame(2, channel, payload)


def test_tables_as_deep_as_max_depth_decode() -> None:
    conn = _table_limited(max_depth=3)
    [event] = feed(conn, method_frame(1, queue_declare_payload(nested_table(3))))
    assert isinstance(event, MethodReceived)
    assert event.method.arguments == {"a": {"a": {}}}


def test_method_table_deeper_than_max_depth_closes_the_connection_501() -> None:
    conn = _table_limited(max_depth=3)
    events = feed(conn, method_frame(1, queue_declare_payload(nested_table(4))))
    close = connection_close(sent(conn))
    assert close is not None
    assert (close.reply_code, close.class_id, close.method_id) == (501, 0, 0)
    assert close.reply_text == "FRAME_ERROR - field table nested deeper than 3 levels"
    assert len(closed_events(events)) == 1


def test_headers_deeper_than_max_depth_close_the_connection_501() -> None:
    conn = _table_limited(max_depth=3)
    publish_method = marshal(commands.Basic.Publish(routing_key="q"), 1)
    feed(conn, publish_method + _headers_frame(1, nested_table(3)))
    assert connection_close(sent(conn)) is None  # three levels are fine
    events = feed(conn, publish_method + _headers_frame(1, nested_table(4)))
    close = connection_close(sent(conn))
    assert close is not None and close.reply_code == 501
    assert close.reply_text == "FRAME_ERROR - field table nested deeper than 3 levels"
    assert len(closed_events(events)) == 1


def _many_values(count: int) -> bytes:
    return b"".join(b"\x01kt\x01" for _ in range(count))  # "k": true, 4 bytes each


def test_decoding_cost_above_the_limit_closes_the_connection_501() -> None:
    table = _many_values(200)  # cost: about 200 * 400 bytes from each value to the frame's end
    accepting = _table_limited(max_cost=1_000_000)
    [event] = feed(accepting, method_frame(1, queue_declare_payload(table)))
    assert isinstance(event, MethodReceived)
    refusing = _table_limited(max_cost=10_000)
    feed(refusing, method_frame(1, queue_declare_payload(table)))
    close = connection_close(sent(refusing))
    assert close is not None and close.reply_code == 501
    assert close.reply_text == "FRAME_ERROR - field table too expensive to decode"


def test_decoding_cost_zero_means_no_limit() -> None:
    conn = _table_limited(max_cost=0)
    [event] = feed(conn, method_frame(1, queue_declare_payload(_many_values(10_000))))
    assert isinstance(event, MethodReceived)


def test_the_deepest_allowed_table_decodes_without_recursion_trouble() -> None:
    conn = _table_limited(max_depth=DEPTH_CEILING)
    [event] = feed(conn, method_frame(1, queue_declare_payload(nested_table(DEPTH_CEILING))))
    assert isinstance(event, MethodReceived)
    value, depth = event.method.arguments, 1
    while value:
        value, depth = value["a"], depth + 1
    assert depth == DEPTH_CEILING


@pytest.mark.parametrize(("depth", "cost"), [(0, 1), (DEPTH_CEILING + 1, 1), (64, -1)])
def test_table_limits_outside_their_range_are_refused(depth: int, cost: int) -> None:
    with pytest.raises(ValueError, match="max_table_"):
        TableLimits(max_depth=depth, max_cost=cost)


@pytest.mark.parametrize(("max_depth", "accepted"), [(3, True), (2, False)])
def test_amqplain_response_is_held_to_max_depth(max_depth: int, accepted: bool) -> None:
    conn = AMQPConnection(
        FakeAuthenticator(), ConnectionSettings(table_limits=TableLimits(max_depth=max_depth))
    )
    feed(conn, PROTOCOL_HEADER)
    conn.data_to_send()
    login = b"\x05LOGINS\x00\x00\x00\x05guest\x08PASSWORDS\x00\x00\x00\x05guest"
    response = login + b"\x01xF" + struct.pack(">I", 7) + b"\x01yF\x00\x00\x00\x00"  # 3 deep
    events = feed(conn, start_ok(mechanism="AMQPLAIN", response=response.decode()))
    if accepted:
        assert conn.data_to_send().startswith(b"\x01\x00\x00")  # connection.tune follows
        assert not closed_events(events)
    else:
        assert conn.data_to_send() == b""  # before login, errors close without a Close frame
        assert len(closed_events(events)) == 1
