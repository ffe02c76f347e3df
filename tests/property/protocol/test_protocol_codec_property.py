# codec.encode_method must equal pamqp's marshal byte for byte wherever pamqp accepts the values,
# and must round-trip the names pamqp's validate() refuses but RabbitMQ accepts.
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from pamqp import commands, frame
from pamqp.base import Frame as Method

from amqp_broker.protocol.codec import decode_method, encode_method


def build(cls: type[Method], **values: Any) -> Method:
    """Set the values after construction, as the broker does: the constructor validates."""
    method = cls()
    for name, value in values.items():
        setattr(method, name, value)
    return method


CHANNELS = st.integers(min_value=0, max_value=65535)
# Delivery tags stay below 2**63 (RabbitMQ's limit too); pamqp encodes long-long as signed.
LONGLONG = st.integers(min_value=0, max_value=2**63 - 1)
LONG = st.integers(min_value=0, max_value=2**32 - 1)
# Names pamqp's regex accepts most of the time, and any text (within a short string) otherwise.
NAMES = st.one_of(
    st.from_regex(r"[a-zA-Z0-9_.:-]{0,127}", fullmatch=True),
    st.text(max_size=80).filter(lambda s: len(s.encode("utf-8")) <= 255),
)

DELIVER = st.builds(
    build,
    st.just(commands.Basic.Deliver),
    consumer_tag=NAMES,
    delivery_tag=LONGLONG,
    redelivered=st.booleans(),
    exchange=NAMES,
    routing_key=NAMES,
)
DECLARE_OK = st.builds(
    build, st.just(commands.Queue.DeclareOk), queue=NAMES, message_count=LONG, consumer_count=LONG
)
GET_OK = st.builds(
    build,
    st.just(commands.Basic.GetOk),
    delivery_tag=LONGLONG,
    redelivered=st.booleans(),
    exchange=NAMES,
    routing_key=NAMES,
    message_count=LONG,
)
METHODS = st.one_of(DELIVER, DECLARE_OK, GET_OK)


def fields(method: Method) -> dict[str, Any]:
    return {name: getattr(method, name) for name in method.__slots__}


def pamqp_marshal(method: Method, channel: int) -> bytes | None:
    """pamqp's bytes, or None when its validate() refuses the values."""
    try:
        method.validate()
    except ValueError:
        return None
    return frame.marshal(method, channel)


@given(channel=CHANNELS, method=METHODS)
def test_encode_method_equals_pamqp_marshal(channel: int, method: Method) -> None:
    expected = pamqp_marshal(method, channel)
    assume(expected is not None)
    assert encode_method(channel, method) == expected


@given(channel=CHANNELS, method=METHODS)
@example(
    channel=1,
    method=build(commands.Queue.DeclareOk, queue="а=б", message_count=0, consumer_count=0),
)
def test_encode_method_round_trips(channel: int, method: Method) -> None:
    data = encode_method(channel, method)
    assert data[0] == 1 and data[-1] == 0xCE
    assert int.from_bytes(data[1:3], "big") == channel
    assert int.from_bytes(data[3:7], "big") == len(data) - 8
    decoded = decode_method(data[7:-1])
    assert type(decoded) is type(method)
    assert fields(decoded) == fields(method)


@pytest.mark.parametrize("name", ["a=b", "очередь", "sp ace!", "q?x", "a$b", "x" * 255])
def test_names_pamqp_rejects_encode_and_decode_back(name: str) -> None:
    method = build(commands.Queue.DeclareOk, queue=name, message_count=3, consumer_count=1)
    deliver = build(
        commands.Basic.Deliver,
        consumer_tag="ctag",
        delivery_tag=7,
        redelivered=True,
        exchange=name,
        routing_key=name,
    )
    with pytest.raises(ValueError):
        (method if len(name) < 255 else deliver).validate()
    for original in (method, deliver):
        decoded = decode_method(encode_method(1, original)[7:-1])
        assert fields(decoded) == fields(original)
