# The channel table: open/close rules, server-side channel close, odd methods, and field tables.
from __future__ import annotations

import struct

import pytest
from pamqp import commands
from protocol_client import (
    channel_close,
    closed_events,
    connection_close,
    content_body,
    content_header,
    feed,
    marshal,
    method_frame,
    methods,
    nested_table,
    open_channel,
    open_connection,
    publish,
    queue_declare_payload,
    raw_frame,
    sent,
)

from amqp_broker.errors import MAX_REPLY_TEXT, AMQPError, ReplyCode, reply_text
from amqp_broker.protocol.events import (
    ChannelClosed,
    ChannelOpened,
    ConnectionClosed,
    ContentReceived,
    MethodReceived,
)

CLOSE_OK = marshal(commands.Channel.CloseOk(), 1)


def test_method_on_unopened_channel_closes_504() -> None:
    conn = open_connection()
    events = feed(conn, marshal(commands.Basic.Qos(prefetch_count=1), 1))
    close = connection_close(sent(conn))
    assert close is not None
    assert close.reply_code == 504
    assert close.reply_text == "CHANNEL_ERROR - expected 'channel.open'"
    assert len(closed_events(events)) == 1


def test_content_on_unopened_channel_closes_504() -> None:
    conn = open_connection()
    feed(conn, content_body(5, b"x"))
    close = connection_close(sent(conn))
    assert close is not None and close.reply_code == 504


def test_channel_open_emits_event_and_open_ok() -> None:
    conn = open_connection()
    events = feed(conn, marshal(commands.Channel.Open(), 7))
    assert events == [ChannelOpened(7)]
    [reply] = methods(conn)
    assert reply.channel == 7 and isinstance(reply.value, commands.Channel.OpenOk)
    assert conn.channel_is_open(7)


def test_second_channel_open_closes_504() -> None:
    conn = open_connection()
    open_channel(conn, 1)
    feed(conn, marshal(commands.Channel.Open(), 1))
    close = connection_close(sent(conn))
    assert close is not None and close.reply_code == 504


def test_channel_open_on_3000_is_accepted() -> None:
    # RabbitMQ 3.10 limits how many channels are open, not the channel number.
    conn = open_connection()
    open_channel(conn, 3000)
    assert conn.channel_is_open(3000)


def test_channel_count_above_channel_max_closes_530() -> None:
    conn = open_connection()
    feed(conn, marshal(commands.Channel.Open(), 1) + marshal(commands.Channel.Open(), 2))
    assert conn.channel_max == 2047
    conn.channel_max = 2  # as if the client had tuned channel_max=2
    conn.data_to_send()
    feed(conn, marshal(commands.Channel.Open(), 3))
    close = connection_close(sent(conn))
    assert close is not None and close.reply_code == 530


def test_channel_flow_active_false_closes_connection_540() -> None:
    conn = open_connection()
    open_channel(conn)
    feed(conn, marshal(commands.Channel.Flow(active=False), 1))
    close = connection_close(sent(conn))
    assert close is not None and close.reply_code == 540


def test_channel_flow_active_true_is_acknowledged() -> None:
    conn = open_connection()
    open_channel(conn)
    assert feed(conn, marshal(commands.Channel.Flow(active=True), 1)) == []
    [reply] = methods(conn)
    assert isinstance(reply.value, commands.Channel.FlowOk) and reply.value.active


def test_client_channel_close_replies_close_ok_and_reports() -> None:
    conn = open_connection()
    open_channel(conn)
    events = feed(conn, marshal(commands.Channel.Close(200, "bye", 0, 0), 1))
    assert events == [ChannelClosed(1)]
    [reply] = methods(conn)
    assert reply.channel == 1 and isinstance(reply.value, commands.Channel.CloseOk)
    assert not conn.channel_is_open(1)
    open_channel(conn, 1)  # the number is free again


def test_server_closed_channel_ignores_everything_but_close_ok() -> None:
    conn = open_connection()
    open_channel(conn)
    open_channel(conn, 2)
    conn.fail(1, AMQPError(ReplyCode.NOT_FOUND, "no queue 'q' in vhost '/'", 50, 10))
    assert conn.next_event() == ChannelClosed(1)
    found = channel_close(sent(conn))
    assert found is not None
    number, close = found
    assert number == 1
    assert (close.reply_code, close.class_id, close.method_id) == (404, 50, 10)
    assert close.reply_text == "NOT_FOUND - no queue 'q' in vhost '/'"
    ignored = (
        publish(1, b"lost")
        + marshal(commands.Basic.Qos(prefetch_count=1), 1)
        + marshal(commands.Channel.Open(), 1)
        + content_header(1, 3)  # would be 505 on an open channel
        + method_frame(1, b"\x00\xff\x00\xff")  # would be 540 on an open channel
    )
    assert feed(conn, ignored) == []
    assert conn.data_to_send() == b""
    assert conn.is_open
    # Other channels keep working meanwhile.
    [event] = feed(conn, publish(2, b"kept"))
    assert isinstance(event, ContentReceived) and event.channel == 2
    assert feed(conn, CLOSE_OK) == []
    open_channel(conn, 1)
    [event] = feed(conn, publish(1, b"again"))
    assert isinstance(event, ContentReceived) and event.body == b"again"


def test_events_after_a_server_channel_close_are_dropped() -> None:
    # Both frames arrive in one read; the broker fails the channel on the first event, so the
    # second, not yet parsed, must never reach it.
    conn = open_connection()
    open_channel(conn)
    conn.receive_data(marshal(commands.Basic.Qos(prefetch_count=1), 1) + publish(1, b"after"), 0.0)
    first = conn.next_event()
    assert isinstance(first, MethodReceived)
    conn.fail(1, AMQPError(ReplyCode.PRECONDITION_FAILED, "nope"))
    assert conn.next_event() == ChannelClosed(1)
    assert conn.next_event() is None


def test_second_server_close_of_a_closing_channel_is_ignored() -> None:
    conn = open_connection()
    open_channel(conn)
    conn.fail(1, AMQPError(ReplyCode.NOT_FOUND, "first"))
    conn.fail(1, AMQPError(ReplyCode.PRECONDITION_FAILED, "second"))
    closes = [item for item in sent(conn) if isinstance(item.value, commands.Channel.Close)]
    assert [close.value.reply_code for close in closes] == [404]
    events = []
    while (event := conn.next_event()) is not None:
        events.append(event)
    assert events == [ChannelClosed(1)]


def test_client_close_crossing_our_close_frees_the_channel() -> None:
    conn = open_connection()
    open_channel(conn)
    conn.fail(1, AMQPError(ReplyCode.NOT_FOUND, "x"))
    conn.next_event()
    conn.data_to_send()
    assert feed(conn, marshal(commands.Channel.Close(200, "", 0, 0), 1)) == []
    [reply] = methods(conn)
    assert isinstance(reply.value, commands.Channel.CloseOk)
    open_channel(conn, 1)


def test_hard_error_on_a_channel_closes_the_connection() -> None:
    conn = open_connection()
    open_channel(conn)
    conn.fail(1, AMQPError(ReplyCode.COMMAND_INVALID, "unknown exchange type 'bogus'", 40, 10))
    assert isinstance(conn.next_event(), ConnectionClosed)
    out = sent(conn)
    assert channel_close(out) is None
    close = connection_close(out)
    assert close is not None
    assert (close.reply_code, close.class_id, close.method_id) == (503, 40, 10)
    assert close.reply_text == "COMMAND_INVALID - unknown exchange type 'bogus'"
    # Only Close-Ok is read now; it ends the connection.
    assert feed(conn, marshal(commands.Basic.Qos(prefetch_count=1), 1)) == []
    feed(conn, marshal(commands.Connection.CloseOk()))
    assert conn.closed


def test_server_close_sends_connection_close() -> None:
    conn = open_connection()
    conn.close(ReplyCode.CONNECTION_FORCED, "broker shutdown")
    assert isinstance(conn.next_event(), ConnectionClosed)
    close = connection_close(sent(conn))
    assert close is not None and close.reply_code == 320


@pytest.mark.parametrize("channel", [0, 1])
def test_unknown_method_id_closes_connection_540(channel: int) -> None:
    conn = open_connection()
    open_channel(conn)
    events = feed(conn, method_frame(channel, b"\x00\xff\x00\xff"))
    close = connection_close(sent(conn))
    assert close is not None
    assert close.reply_code == 540
    assert (close.class_id, close.method_id) == (255, 255)
    assert len(closed_events(events)) == 1


def test_access_request_gets_access_request_ok() -> None:
    conn = open_connection()
    open_channel(conn, 3)
    realm = b"/data"
    payload = b"\x00\x1e\x00\x0a" + bytes((len(realm),)) + realm + b"\x1f"
    assert feed(conn, method_frame(3, payload)) == []
    assert conn.data_to_send() == raw_frame(1, 3, b"\x00\x1e\x00\x0b\x00\x01")
    assert conn.is_open


# ---- field tables ------------------------------------------------------------------------------


def test_nested_table_500_deep_closes_501_without_recursion_error() -> None:
    conn = open_connection()
    open_channel(conn)
    payload = queue_declare_payload(nested_table(500))
    assert len(payload) < 4096  # small enough to send before login, too
    events = feed(conn, method_frame(1, payload))
    close = connection_close(sent(conn))
    assert close is not None and close.reply_code == 501
    assert len(closed_events(events)) == 1


def test_nested_table_a_few_levels_deep_decodes() -> None:
    conn = open_connection()
    open_channel(conn)
    [event] = feed(conn, method_frame(1, queue_declare_payload(nested_table(11))))
    assert isinstance(event, MethodReceived)
    assert isinstance(event.method, commands.Queue.Declare)
    value = event.method.arguments
    for _ in range(10):
        assert isinstance(value, dict) and list(value) == ["a"]
        value = value["a"]
    assert value == {}


def test_normal_arguments_decode() -> None:
    conn = open_connection()
    open_channel(conn)
    arguments = {"x-max-priority": 10, "x-args": {"list": [1, "two", {"three": True}]}}
    [event] = feed(
        conn, marshal(commands.Queue.Declare(queue="q", durable=True, arguments=arguments), 1)
    )
    assert isinstance(event, MethodReceived)
    assert isinstance(event.method, commands.Queue.Declare)
    assert event.method.arguments == arguments
    assert event.method.durable


@pytest.mark.timeout(5)
def test_array_of_128k_voids_closes_cleanly() -> None:
    conn = open_connection()
    open_channel(conn)
    room = 131072 - len(queue_declare_payload(b"")) - len(b"\x01aA") - 4
    voids = b"V" * room
    table = b"\x01aA" + struct.pack(">I", len(voids)) + voids
    payload = queue_declare_payload(table)
    assert len(payload) == 131072
    feed(conn, method_frame(1, payload))
    close = connection_close(sent(conn))
    assert close is not None and close.reply_code == 501


def test_truncated_table_closes_501() -> None:
    conn = open_connection()
    open_channel(conn)
    payload = queue_declare_payload(b"\x01aS\x00\x00\x00\x10abc")
    feed(conn, method_frame(1, payload))
    close = connection_close(sent(conn))
    assert close is not None and close.reply_code == 501


# ---- reply text --------------------------------------------------------------------------------


def test_reply_text_is_name_dash_detail() -> None:
    assert reply_text(ReplyCode.NOT_FOUND, "no queue 'q'") == "NOT_FOUND - no queue 'q'"
    assert reply_text(ReplyCode.RESOURCE_LOCKED, "") == "RESOURCE_LOCKED"


@pytest.mark.parametrize("filler", ["é", "€", "😀", "a"])
def test_reply_text_cut_to_255_bytes_on_a_character_boundary(filler: str) -> None:
    text = reply_text(ReplyCode.PRECONDITION_FAILED, "x" + filler * 300)
    encoded = text.encode("utf-8")
    assert MAX_REPLY_TEXT - 3 <= len(encoded) <= MAX_REPLY_TEXT
    assert text.startswith("PRECONDITION_FAILED - x")
    assert set(text[len("PRECONDITION_FAILED - x") :]) == {filler}


def test_long_reply_text_goes_out_in_a_valid_close() -> None:
    conn = open_connection()
    open_channel(conn)
    conn.fail(1, AMQPError(ReplyCode.NOT_FOUND, "очередь " * 100))
    found = channel_close(sent(conn))
    assert found is not None
    assert len(found[1].reply_text.encode("utf-8")) <= 255


@pytest.mark.parametrize(
    ("code", "closes_connection"),
    [
        (ReplyCode.CONTENT_TOO_LARGE, False),
        (ReplyCode.NO_ROUTE, False),
        (ReplyCode.NO_CONSUMERS, False),
        (ReplyCode.ACCESS_REFUSED, False),
        (ReplyCode.NOT_FOUND, False),
        (ReplyCode.RESOURCE_LOCKED, False),
        (ReplyCode.PRECONDITION_FAILED, False),
        (ReplyCode.CONNECTION_FORCED, True),
        (ReplyCode.INVALID_PATH, True),
        (ReplyCode.FRAME_ERROR, True),
        (ReplyCode.SYNTAX_ERROR, True),
        (ReplyCode.COMMAND_INVALID, True),
        (ReplyCode.CHANNEL_ERROR, True),
        (ReplyCode.UNEXPECTED_FRAME, True),
        (ReplyCode.RESOURCE_ERROR, True),
        (ReplyCode.NOT_ALLOWED, True),
        (ReplyCode.NOT_IMPLEMENTED, True),
        (ReplyCode.INTERNAL_ERROR, True),
    ],
)
def test_soft_codes_close_the_channel_hard_codes_the_connection(
    code: ReplyCode, closes_connection: bool
) -> None:
    assert AMQPError(code).closes_connection is closes_connection
    conn = open_connection()
    open_channel(conn)
    conn.fail(1, AMQPError(code, "x"))
    out = sent(conn)
    if closes_connection:
        assert channel_close(out) is None
        close = connection_close(out)
        assert close is not None and close.reply_code == code
    else:
        assert connection_close(out) is None
        found = channel_close(out)
        assert found is not None and found[1].reply_code == code


def test_client_connection_close_gets_close_ok() -> None:
    conn = open_connection()
    open_channel(conn)
    events = feed(conn, marshal(commands.Connection.Close(200, "bye", 0, 0)))
    assert [type(event) for event in events] == [ConnectionClosed]
    [reply] = methods(conn)
    assert reply.channel == 0 and isinstance(reply.value, commands.Connection.CloseOk)
    assert conn.closed


@pytest.mark.parametrize("frame_type", [2, 3])
def test_content_frame_on_channel_0_closes_505(frame_type: int) -> None:
    conn = open_connection()
    feed(conn, raw_frame(frame_type, 0, b"\x00\x3c\x00\x00" + b"\x00" * 10))
    close = connection_close(sent(conn))
    assert close is not None and close.reply_code == 505
