# The protocol header check and the incremental frame reader, fed whole and one byte at a time.
from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
from pamqp import commands
from protocol_client import (
    FakeAuthenticator,
    closed_events,
    connection_close,
    content_body,
    content_header,
    decode_output,
    feed,
    feed_bytewise,
    marshal,
    open_channel,
    open_connection,
    raw_frame,
    sent,
)

from amqp_broker.errors import AMQPError, ReplyCode
from amqp_broker.protocol.connection import AMQPConnection
from amqp_broker.protocol.events import ConnectionClosed, Event
from amqp_broker.protocol.framing import PROTOCOL_HEADER, FrameReader, RawFrame

Feeder = Callable[[AMQPConnection, bytes], list[Event]]
FEEDERS = [pytest.param(feed, id="whole"), pytest.param(feed_bytewise, id="bytewise")]

# ---- protocol header ---------------------------------------------------------------------------


@pytest.mark.parametrize("feeder", FEEDERS)
def test_protocol_header_sends_connection_start(feeder: Feeder) -> None:
    conn = AMQPConnection(FakeAuthenticator())
    assert feeder(conn, PROTOCOL_HEADER) == []
    [start] = decode_output(conn.data_to_send())
    assert start.channel == 0
    assert isinstance(start.value, commands.Connection.Start)
    assert (start.value.version_major, start.value.version_minor) == (0, 9)
    assert start.value.mechanisms == "PLAIN AMQPLAIN"
    capabilities = start.value.server_properties["capabilities"]
    for name in (
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "consumer_cancel_notify",
        "connection.blocked",
        "consumer_priorities",
        "authentication_failure_close",
        "per_consumer_qos",
    ):
        assert capabilities[name] is True, name


@pytest.mark.parametrize("feeder", FEEDERS)
@pytest.mark.parametrize(
    "greeting",
    [
        b"AMQP\x00\x01\x00\x00",  # AMQP 1.0
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"AMQP\x01\x01\x08\x00",  # 0-8 style
        b"AMQP\x00\x00\x09\x02",
    ],
)
def test_bad_protocol_header_replies_our_header_and_closes(feeder: Feeder, greeting: bytes) -> None:
    conn = AMQPConnection(FakeAuthenticator())
    events = feeder(conn, greeting)
    assert len(closed_events(events)) == 1
    assert conn.closed
    assert conn.data_to_send() == PROTOCOL_HEADER  # no Close frame, no Start


def test_protocol_header_then_eof_before_complete_closes_silently() -> None:
    conn = AMQPConnection(FakeAuthenticator())
    assert feed(conn, b"AMQP\x00") == []
    events = feed(conn, b"")
    assert len(closed_events(events)) == 1
    assert conn.data_to_send() == b""


# ---- FrameReader directly ----------------------------------------------------------------------


def read_all(reader: FrameReader, data: bytes, bytewise: bool) -> list[RawFrame]:
    frames: list[RawFrame] = []
    chunks = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    for chunk in chunks:
        reader.feed(chunk)
        while (raw := reader.next_frame()) is not None:
            frames.append(raw)
    return frames


@pytest.mark.parametrize("bytewise", [False, True])
def test_reader_splits_frames(bytewise: bool) -> None:
    data = raw_frame(1, 3, b"abc") + raw_frame(8, 0, b"") + raw_frame(3, 7, b"x" * 300)
    frames = read_all(FrameReader(), data, bytewise)
    assert frames == [RawFrame(1, 3, b"abc"), RawFrame(8, 0, b""), RawFrame(3, 7, b"x" * 300)]


@pytest.mark.parametrize("bytewise", [False, True])
@pytest.mark.parametrize(
    ("data", "code"),
    [
        pytest.param(raw_frame(0, 0, b"abc"), ReplyCode.FRAME_ERROR, id="type-0"),
        pytest.param(raw_frame(65, 0, b"abc"), ReplyCode.FRAME_ERROR, id="type-65"),
        pytest.param(raw_frame(1, 0, b"abc", end=0xCD), ReplyCode.FRAME_ERROR, id="end-byte"),
        pytest.param(raw_frame(8, 1, b""), ReplyCode.UNEXPECTED_FRAME, id="heartbeat-channel-1"),
        pytest.param(raw_frame(8, 0, b"\x00"), ReplyCode.FRAME_ERROR, id="heartbeat-payload"),
    ],
)
def test_reader_rejects_malformed_frame(bytewise: bool, data: bytes, code: ReplyCode) -> None:
    with pytest.raises(AMQPError) as info:
        read_all(FrameReader(), data, bytewise)
    assert info.value.code == code


def test_reader_rejects_oversized_frame_from_its_header_alone() -> None:
    reader = FrameReader(131072)
    reader.feed(struct.pack(">BHI", 3, 1, 1 << 30))  # 1 GB body frame: only the header arrives
    with pytest.raises(AMQPError) as info:
        reader.next_frame()
    assert info.value.code == ReplyCode.FRAME_ERROR
    assert "frame_too_large" in info.value.detail


def test_reader_accepts_payload_equal_to_frame_max() -> None:
    reader = FrameReader(4096)
    assert read_all(reader, raw_frame(3, 1, b"x" * 4096), False) == [RawFrame(3, 1, b"x" * 4096)]


def test_reader_rejects_payload_one_above_frame_max() -> None:
    with pytest.raises(AMQPError) as info:
        read_all(FrameReader(4096), raw_frame(3, 1, b"x" * 4097), False)
    assert info.value.code == ReplyCode.FRAME_ERROR


def test_reader_incomplete_frame_returns_none() -> None:
    reader = FrameReader()
    data = raw_frame(1, 0, b"abcdef")
    reader.feed(data[:-1])
    assert reader.next_frame() is None
    reader.feed(data[-1:])
    assert reader.next_frame() == RawFrame(1, 0, b"abcdef")
    assert reader.next_frame() is None


# ---- frame errors on an open connection --------------------------------------------------------


@pytest.mark.parametrize("feeder", FEEDERS)
@pytest.mark.parametrize(
    ("data", "code"),
    [
        pytest.param(raw_frame(0, 0, b"abc"), 501, id="type-0"),
        pytest.param(raw_frame(65, 1, b"abc"), 501, id="type-65"),
        pytest.param(raw_frame(1, 0, b"\x00\x0a\x00\x33", end=0), 501, id="end-byte"),
        pytest.param(raw_frame(8, 0, b"\x00\x00"), 501, id="heartbeat-payload"),
        pytest.param(raw_frame(3, 1, b"x" * 131073), 501, id="payload-above-frame-max"),
    ],
)
def test_frame_error_on_open_connection_closes_501(feeder: Feeder, data: bytes, code: int) -> None:
    conn = open_connection()
    open_channel(conn)
    events = feeder(conn, data)
    close = connection_close(sent(conn))
    assert close is not None and close.reply_code == code
    assert len(closed_events(events)) == 1
    # The bad frame cannot be skipped: the connection must stop reading, not retry it forever.
    assert conn.closed
    assert conn.next_event() is None


@pytest.mark.parametrize("feeder", FEEDERS)
def test_heartbeat_on_channel_1_closes_connection_505(feeder: Feeder) -> None:
    conn = open_connection()
    open_channel(conn)
    events = feeder(conn, raw_frame(8, 1, b""))
    close = connection_close(sent(conn))
    assert close is not None and close.reply_code == 505
    assert len(closed_events(events)) == 1


def test_gigabyte_frame_header_closes_before_payload_arrives() -> None:
    conn = open_connection()
    open_channel(conn)
    events = feed(conn, struct.pack(">BHI", 3, 1, 1 << 30))
    close = connection_close(sent(conn))
    assert close is not None and close.reply_code == 501
    assert isinstance(events[-1], ConnectionClosed)


def test_body_frame_of_exactly_frame_max_payload_is_accepted() -> None:
    conn = open_connection(frame_max=4096)
    open_channel(conn)
    data = b"y" * 4096
    feed(conn, marshal(commands.Basic.Publish(routing_key="q"), 1) + content_header(1, len(data)))
    events = feed(conn, content_body(1, data))
    assert [type(event).__name__ for event in events] == ["ContentReceived"]
    assert connection_close(sent(conn)) is None


def test_frame_above_4096_before_tune_closes_silently() -> None:
    conn = AMQPConnection(FakeAuthenticator())
    feed(conn, PROTOCOL_HEADER)
    conn.data_to_send()
    events = feed(conn, raw_frame(1, 0, b"\x00\x0a\x00\x0b" + b"x" * 4093))
    assert len(closed_events(events)) == 1
    assert conn.closed
    assert conn.data_to_send() == b""
