# AMQPConnection reads a publish whose three frames have all arrived in one step
# (fastcodec.scan_publish); frame by frame it takes the general path. The two must never differ:
# the same events, the same output, the same close, for well-formed publishes of every shape and
# for mutated ones. Fed one byte at a time, the one-step path never has a whole publish to read,
# so that run is the general path's answer.
from __future__ import annotations

import datetime
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st
from pamqp import commands
from protocol_client import (
    content_body,
    feed,
    feed_bytewise,
    marshal,
    open_connection,
    raw_frame,
)
from test_protocol_fuzz_property import mutated

from amqp_broker.protocol.codec import encode_properties
from amqp_broker.protocol.connection import AMQPConnection, ConnectionSettings
from amqp_broker.protocol.events import ContentReceived, Event, MethodReceived

Basic = commands.Basic
FRAME_MAX = 4096
MAX_BODY = 3000  # one body drawn is above it: 406 on the channel

INT32 = st.integers(-(2**31), 2**31 - 1)
PROPERTIES = st.builds(
    Basic.Properties,
    content_type=st.none() | st.text(max_size=20),
    delivery_mode=st.sampled_from([None, 1, 2]),
    priority=st.none() | st.integers(min_value=0, max_value=255),
    correlation_id=st.none() | st.text(max_size=10),
    expiration=st.none() | st.sampled_from(["0", "100", "abc"]),
    headers=st.none() | st.dictionaries(st.text(max_size=5), INT32 | st.text(max_size=5)),
    timestamp=st.none()
    | st.datetimes(
        min_value=datetime.datetime(2000, 1, 1), max_value=datetime.datetime(2100, 1, 1)
    ).map(lambda moment: moment.replace(microsecond=0, tzinfo=datetime.UTC)),
)


@st.composite
def publish_frames(draw: st.DrawFn) -> bytes:
    """One publish: method, header and body frames (the body split like a client may split it,
    possibly into several frames), sometimes on a channel that is not open or of another class."""
    channel = draw(st.sampled_from([1, 1, 1, 2, 3]))
    method = Basic.Publish(
        exchange=draw(st.sampled_from(["", "amq.direct", "x"])),
        routing_key=draw(st.text(max_size=12)),
        mandatory=draw(st.booleans()),
        immediate=draw(st.booleans()),
    )
    body = draw(st.binary(max_size=40) | st.just(b"x" * 3100))
    properties = encode_properties(draw(PROPERTIES))
    class_id = draw(st.sampled_from([60, 60, 60, 50]))
    header = class_id.to_bytes(2, "big") + b"\x00\x00" + len(body).to_bytes(8, "big")
    frames = [marshal(method, channel), raw_frame(2, channel, header + properties)]
    piece = draw(st.sampled_from([FRAME_MAX - 8, FRAME_MAX - 8, 1000, 7]))
    for start in range(0, len(body), piece):
        frames.append(content_body(channel, body[start : start + piece]))
    return b"".join(frames)


OTHER = st.sampled_from(
    [
        marshal(Basic.Ack(delivery_tag=1), 1),
        marshal(commands.Channel.Close(200, "bye", 0, 0), 2),
        marshal(commands.Channel.CloseOk(), 1),
        b"\x08\x00\x00\x00\x00\x00\x00\xce",  # heartbeat
    ]
)
STREAMS = st.lists(publish_frames() | OTHER, min_size=1, max_size=6).map(b"".join)


def _open() -> AMQPConnection:
    settings = ConnectionSettings(max_message_size=MAX_BODY)
    conn = open_connection(frame_max=FRAME_MAX, settings=settings)
    for channel in (1, 2):
        feed(conn, marshal(commands.Channel.Open(), channel))
    conn.data_to_send()
    return conn


def _fields(value: Any) -> Any:
    names = getattr(type(value), "__slots__", None) or vars(value)
    return (type(value).__name__, {name: getattr(value, name) for name in names})


def _comparable(event: Event) -> Any:
    if isinstance(event, ContentReceived):
        header = event.header
        return (
            "content",
            event.channel,
            _fields(event.method),
            (header.class_id, header.body_size, header.properties_raw),
            _fields(header.properties),
            event.body,
        )
    if isinstance(event, MethodReceived):
        return ("method", event.channel, _fields(event.method))
    return event


def _run(stream: bytes, *, bytewise: bool) -> tuple[list[Any], bytes, str]:
    conn = _open()
    events = feed_bytewise(conn, stream) if bytewise else feed(conn, stream)
    return [_comparable(event) for event in events], conn.data_to_send(), conn.state.value


@given(stream=STREAMS)
def test_whole_publishes_read_in_one_step_equal_frame_by_frame(stream: bytes) -> None:
    assert _run(stream, bytewise=False) == _run(stream, bytewise=True)


@given(data=st.data(), stream=STREAMS)
def test_mutated_publishes_read_in_one_step_equal_frame_by_frame(
    data: st.DataObject, stream: bytes
) -> None:
    broken = data.draw(mutated(stream))
    assume(broken)  # b"" would be end of file
    assert _run(broken, bytewise=False) == _run(broken, bytewise=True)


def test_the_one_step_path_is_taken() -> None:
    """Guards the comparison above against comparing the general path with itself."""
    conn = _open()
    stream = marshal(Basic.Publish(exchange="", routing_key="q"), 1)
    stream += raw_frame(2, 1, b"\x00\x3c\x00\x00" + (3).to_bytes(8, "big") + b"\x00\x00")
    stream += content_body(1, b"abc")
    conn.receive_data(stream, 0.0)
    assert conn._step()  # one step takes the whole publish
    event = conn.next_event()
    assert isinstance(event, ContentReceived) and event.body == b"abc"
    assert conn._reader.buffered == 0
