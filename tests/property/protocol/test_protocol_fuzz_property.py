# The h11-style fuzz invariant: whatever bytes arrive, whole or in any chunks, AMQPConnection only
# reports events or closes cleanly (a Close frame or a silent close, then one ConnectionClosed);
# next_event() raising anything is a bug.
from __future__ import annotations

import itertools
import struct

from hypothesis import given
from hypothesis import strategies as st
from pamqp import commands
from protocol_client import (
    FakeAuthenticator,
    content_body,
    content_header,
    marshal,
    method_frame,
    open_connection,
    publish,
    start_ok,
    tune_ok,
)

from amqp_broker.errors import ReplyCode
from amqp_broker.protocol.connection import AMQPConnection
from amqp_broker.protocol.events import ConnectionClosed, Event
from amqp_broker.protocol.framing import PROTOCOL_HEADER

_HEADER = struct.Struct(">BHI")

# A valid conversation on channels 1 and 2, to be mutated.
VALID_STREAM = b"".join(
    [
        marshal(commands.Channel.Open(), 2),
        marshal(commands.Basic.Qos(prefetch_count=10), 1),
        marshal(
            commands.Queue.Declare(queue="q", arguments={"x-max-priority": 5, "t": {"a": [1]}}), 1
        ),
        publish(1, b"hello world"),
        marshal(commands.Basic.Publish(exchange="", routing_key="q"), 2),
        content_header(2, 6),
        content_body(2, b"abc"),
        content_body(2, b"def"),
        marshal(commands.Basic.Ack(delivery_tag=1, multiple=True), 1),
        method_frame(1, b"\x00\x1e\x00\x0a\x00\x1f"),  # access.request
        b"\x08\x00\x00\x00\x00\x00\x00\xce",  # heartbeat
        marshal(commands.Channel.Close(200, "bye", 0, 0), 2),
        marshal(commands.Channel.Flow(active=True), 1),
    ]
)
HANDSHAKE_STREAM = (
    PROTOCOL_HEADER
    + start_ok()
    + tune_ok(heartbeat=5)
    + marshal(commands.Connection.Open(virtual_host="/"))
)


@st.composite
def mutated(draw: st.DrawFn, stream: bytes) -> bytes:
    data = bytearray(stream)
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        if not data:
            break
        at = draw(st.integers(min_value=0, max_value=len(data) - 1))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif kind == "set":
            data[at] = draw(st.sampled_from([0, 1, 2, 3, 8, 0xCE, 0xFF, 0x7F, 0x80]))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[at : at + draw(st.integers(min_value=1, max_value=16))]
        else:
            del data[at:]
    return bytes(data)


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts} | {0, len(data)})
    return [data[start:end] for start, end in itertools.pairwise(points)]


def split_frames(data: bytes) -> list[tuple[int, int, bytes]]:
    """The server's own output must always be well-formed frames."""
    frames = []
    if data.startswith(b"AMQP"):
        data = data[8:]
    while data:
        frame_type, channel, size = _HEADER.unpack_from(data)
        assert data[7 + size] == 0xCE
        frames.append((frame_type, channel, data[7 : 7 + size]))
        data = data[8 + size :]
    return frames


def run(conn: AMQPConnection, chunks: list[bytes]) -> None:
    events: list[Event] = []
    output = b""
    for chunk in [*chunks, b""]:  # then EOF
        conn.receive_data(chunk, 1.0)
        while (event := conn.next_event()) is not None:
            events.append(event)
        output += conn.data_to_send()
    # EOF ends every connection: exactly one ConnectionClosed, and it is the last event.
    assert conn.closed
    assert [type(event) for event in events].count(ConnectionClosed) == 1
    assert isinstance(events[-1], ConnectionClosed)
    for frame_type, _channel, payload in split_frames(output):
        assert frame_type in (1, 2, 3, 8)
        index = payload[:4]
        if index in (b"\x00\x0a\x00\x32", b"\x00\x14\x00\x28"):  # Connection.Close, Channel.Close
            code = int.from_bytes(payload[4:6], "big")
            assert code in iter(ReplyCode)


def open_for_fuzz() -> AMQPConnection:
    conn = open_connection(frame_max=4096)
    conn.receive_data(marshal(commands.Channel.Open(), 1), 0.0)
    while conn.next_event() is not None:
        pass
    conn.data_to_send()
    return conn


@given(data=st.binary(max_size=600), cuts=st.lists(st.integers(min_value=0), max_size=20))
def test_random_bytes_into_open_connection(data: bytes, cuts: list[int]) -> None:
    run(open_for_fuzz(), chunked(data, cuts))


@given(data=mutated(VALID_STREAM), cuts=st.lists(st.integers(min_value=0), max_size=20))
def test_mutated_stream_into_open_connection(data: bytes, cuts: list[int]) -> None:
    run(open_for_fuzz(), chunked(data, cuts))


@given(data=mutated(HANDSHAKE_STREAM + VALID_STREAM), cuts=st.lists(st.integers(), max_size=20))
def test_mutated_handshake_stream(data: bytes, cuts: list[int]) -> None:
    run(AMQPConnection(FakeAuthenticator()), chunked(data, cuts))


@given(data=st.binary(max_size=300))
def test_random_bytes_after_protocol_header(data: bytes) -> None:
    run(AMQPConnection(FakeAuthenticator()), [PROTOCOL_HEADER, data])


@given(data=st.binary(max_size=200))
def test_bytes_fed_one_at_a_time(data: bytes) -> None:
    run(open_for_fuzz(), [data[i : i + 1] for i in range(len(data))])
