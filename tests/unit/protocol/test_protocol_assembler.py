# The method -> content header -> body state machine, alone and behind an open connection.
from __future__ import annotations

import struct

import pytest
from pamqp import commands
from protocol_client import (
    closed_events,
    connection_close,
    content_body,
    content_header,
    feed,
    marshal,
    open_channel,
    open_connection,
    publish,
    sent,
)

from amqp_broker.errors import AMQPError, ReplyCode
from amqp_broker.protocol.assembler import AssemblyState, CommandAssembler, Content
from amqp_broker.protocol.events import ContentReceived, MethodReceived

PUBLISH = commands.Basic.Publish(exchange="x", routing_key="k")


def header_payload(body_size: int, class_id: int = 60) -> bytes:
    return content_header(1, body_size, class_id)[7:-1]


def test_header_without_publish_is_505() -> None:
    with pytest.raises(AMQPError) as info:
        CommandAssembler().on_header(header_payload(3))
    assert info.value.code == ReplyCode.UNEXPECTED_FRAME
    assert info.value.detail.startswith("expected method frame")


def test_body_without_publish_is_505() -> None:
    with pytest.raises(AMQPError) as info:
        CommandAssembler().on_body(b"abc")
    assert info.value.code == ReplyCode.UNEXPECTED_FRAME
    assert info.value.detail.startswith("expected method frame")


def test_publish_then_header_of_class_12_is_505() -> None:
    assembler = CommandAssembler()
    assert assembler.on_method(PUBLISH, carries_content=True) is None
    with pytest.raises(AMQPError) as info:
        assembler.on_header(header_payload(3, class_id=12))
    assert info.value.code == ReplyCode.UNEXPECTED_FRAME
    assert info.value.detail == "expected content header for class 60, got one for class 12"
    assert (info.value.class_id, info.value.method_id) == (60, 40)


def test_publish_then_method_is_505() -> None:
    assembler = CommandAssembler()
    assembler.on_method(PUBLISH, carries_content=True)
    with pytest.raises(AMQPError) as info:
        assembler.on_method(commands.Basic.Ack(delivery_tag=1), carries_content=False)
    assert info.value.code == ReplyCode.UNEXPECTED_FRAME


def test_publish_then_body_before_header_is_505() -> None:
    assembler = CommandAssembler()
    assembler.on_method(PUBLISH, carries_content=True)
    with pytest.raises(AMQPError) as info:
        assembler.on_body(b"abc")
    assert info.value.code == ReplyCode.UNEXPECTED_FRAME


def test_body_longer_than_declared_is_501() -> None:
    assembler = CommandAssembler()
    assembler.on_method(PUBLISH, carries_content=True)
    assert assembler.on_header(header_payload(3)) is None
    with pytest.raises(AMQPError) as info:
        assembler.on_body(b"abcd")
    assert info.value.code == ReplyCode.FRAME_ERROR


def test_body_size_zero_completes_at_the_header() -> None:
    assembler = CommandAssembler()
    assembler.on_method(PUBLISH, carries_content=True)
    content = assembler.on_header(header_payload(0))
    assert isinstance(content, Content)
    assert content.body == b""
    assert content.header.properties.content_type == "text/x"
    assert assembler.state is AssemblyState.IDLE


def test_body_split_over_frames_reassembles_and_resets() -> None:
    assembler = CommandAssembler()
    for _ in range(2):  # twice: the second message must not see the first one's parts
        assembler.on_method(PUBLISH, carries_content=True)
        assert assembler.on_header(header_payload(10)) is None
        assert assembler.on_body(b"abc") is None
        assert assembler.on_body(b"") is None
        assert assembler.on_body(b"defg") is None
        content = assembler.on_body(b"hij")
        assert content is not None
        assert content.body == b"abcdefghij"
        assert content.method is PUBLISH
        assert assembler.state is AssemblyState.IDLE


def test_method_without_content_passes_straight_through() -> None:
    method = commands.Basic.Ack(delivery_tag=5)
    assert CommandAssembler().on_method(method, carries_content=False) is method


def test_truncated_content_header_is_501() -> None:
    assembler = CommandAssembler()
    assembler.on_method(PUBLISH, carries_content=True)
    with pytest.raises(AMQPError) as info:
        assembler.on_header(struct.pack(">HHQ", 60, 0, 3))  # no property flags
    assert info.value.code == ReplyCode.FRAME_ERROR


# ---- through the connection --------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(content_header(1, 3), id="header"),
        pytest.param(content_body(1, b"abc"), id="body"),
    ],
)
def test_content_without_publish_closes_connection_505(data: bytes) -> None:
    conn = open_connection()
    open_channel(conn)
    events = feed(conn, data)
    close = connection_close(sent(conn))
    assert close is not None and close.reply_code == 505
    assert close.reply_text.startswith("UNEXPECTED_FRAME - expected method frame")
    assert len(closed_events(events)) == 1


def test_publish_then_header_class_12_closes_connection_505() -> None:
    conn = open_connection()
    open_channel(conn)
    feed(conn, marshal(PUBLISH, 1) + content_header(1, 3, class_id=12))
    close = connection_close(sent(conn))
    assert close is not None
    assert close.reply_code == 505
    assert close.reply_text == (
        "UNEXPECTED_FRAME - expected content header for class 60, got one for class 12"
    )
    assert (close.class_id, close.method_id) == (60, 40)


def test_publish_then_method_closes_connection_505() -> None:
    conn = open_connection()
    open_channel(conn)
    events = feed(conn, marshal(PUBLISH, 1) + marshal(commands.Basic.Qos(prefetch_count=1), 1))
    close = connection_close(sent(conn))
    assert close is not None and close.reply_code == 505
    assert not any(isinstance(event, MethodReceived) for event in events)


def test_body_longer_than_declared_closes_connection_501() -> None:
    conn = open_connection()
    open_channel(conn)
    feed(conn, marshal(PUBLISH, 1) + content_header(1, 2) + content_body(1, b"abc"))
    close = connection_close(sent(conn))
    assert close is not None and close.reply_code == 501


def test_publish_split_over_body_frames_gives_one_content_event() -> None:
    conn = open_connection()
    open_channel(conn)
    data = marshal(PUBLISH, 1) + content_header(1, 6)
    data += content_body(1, b"ab") + content_body(1, b"cd") + content_body(1, b"ef")
    events = feed(conn, data)
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, ContentReceived)
    assert (event.channel, event.body) == (1, b"abcdef")
    assert event.header.body_size == 6


def test_publishes_on_two_channels_interleave() -> None:
    conn = open_connection()
    open_channel(conn, 1)
    open_channel(conn, 2)
    data = marshal(PUBLISH, 1) + marshal(PUBLISH, 2)
    data += content_header(1, 2) + content_header(2, 0) + content_body(1, b"hi")
    events = feed(conn, data)
    assert [(type(e), getattr(e, "channel", None)) for e in events] == [
        (ContentReceived, 2),
        (ContentReceived, 1),
    ]
    assert connection_close(sent(conn)) is None


def test_publish_helper_round_trip() -> None:
    conn = open_connection()
    open_channel(conn)
    [event] = feed(conn, publish(1, b"hello"))
    assert isinstance(event, ContentReceived) and event.body == b"hello"
