# The hot path's codec (protocol/fastcodec.py) must equal pamqp exactly, and the generic decoder
# in codec.py: the same values out of any bytes it accepts, the same bytes out of any delivery it
# encodes. Whatever it declines takes the generic path, so declining is always allowed; a
# different answer never is.
from __future__ import annotations

import datetime
import struct
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from pamqp import body, commands, frame, header

from amqp_broker.protocol.codec import (
    _decode_properties,
    encode_content,
    encode_method,
    make_method,
)
from amqp_broker.protocol.fastcodec import decode_properties, decode_publish, encode_delivery

Basic = commands.Basic
SHORT_TEXT = st.text(max_size=60).filter(lambda s: len(s.encode()) <= 255)
VALID_NAMES = st.from_regex(r"[a-zA-Z0-9_.:-]{0,127}", fullmatch=True)
OCTET = st.integers(min_value=0, max_value=255)


def slots(value: Any) -> dict[str, Any]:
    return {name: getattr(value, name) for name in value.__slots__}


def pamqp_method(payload: bytes) -> dict[str, Any] | None:
    try:
        method = Basic.Publish()
        method.unmarshal(payload[4:])
    except (struct.error, ValueError, TypeError, IndexError):
        return None
    return slots(method)


def pamqp_properties(raw: bytes) -> dict[str, Any] | None:
    try:
        flags = int.from_bytes(raw[:2], "big")
        if flags & 1 or len(raw) < 2:
            return None  # (a second flag word: the fast path always declines it)
        properties = Basic.Properties()
        properties.unmarshal(flags, raw[2:])
    except (struct.error, ValueError, TypeError, IndexError):
        return None
    return slots(properties)


@given(
    ticket=st.integers(min_value=0, max_value=65535),
    exchange=VALID_NAMES,
    routing_key=SHORT_TEXT,
    mandatory=st.booleans(),
    immediate=st.booleans(),
)
def test_decode_publish_equals_pamqp_on_what_pamqp_encodes(
    ticket: int, exchange: str, routing_key: str, mandatory: bool, immediate: bool
) -> None:
    method = make_method(
        Basic.Publish,
        ticket=ticket,
        exchange=exchange,
        routing_key=routing_key,
        mandatory=mandatory,
        immediate=immediate,
    )
    payload = encode_method(1, method)[7:-1]
    decoded = decode_publish(payload)
    assert decoded is not None
    assert type(decoded) is Basic.Publish
    assert slots(decoded) == pamqp_method(payload) == slots(method)


@given(tail=st.binary(max_size=40))
def test_decode_publish_on_any_bytes_declines_or_agrees_with_pamqp(tail: bytes) -> None:
    payload = b"\x00\x3c\x00\x28" + tail
    decoded = decode_publish(payload)
    if decoded is not None:
        assert slots(decoded) == pamqp_method(payload)


PROPERTIES = st.fixed_dictionaries(
    {},
    optional={
        "content_type": SHORT_TEXT,
        "content_encoding": SHORT_TEXT,
        "headers": st.dictionaries(VALID_NAMES.filter(bool), st.integers(0, 100), max_size=3),
        "delivery_mode": st.sampled_from([1, 2]),
        "priority": OCTET,
        "correlation_id": SHORT_TEXT,
        "reply_to": SHORT_TEXT,
        "expiration": SHORT_TEXT,
        "message_id": SHORT_TEXT,
        "timestamp": st.datetimes(
            min_value=datetime.datetime(1971, 1, 1), max_value=datetime.datetime(2100, 1, 1)
        ).map(lambda d: d.replace(microsecond=0, tzinfo=datetime.UTC)),
        "message_type": SHORT_TEXT,
        "user_id": SHORT_TEXT,
        "app_id": SHORT_TEXT,
    },
)


@given(values=PROPERTIES)
def test_decode_properties_equals_pamqp_on_what_pamqp_encodes(values: dict[str, Any]) -> None:
    raw = Basic.Properties(**values).marshal()
    decoded = decode_properties(raw)
    if "headers" in values or "timestamp" in values:
        assert decoded is None  # tables and timestamps are pamqp's job
        return
    assert decoded is not None
    assert type(decoded) is Basic.Properties
    assert slots(decoded) == pamqp_properties(raw) == slots(_decode_properties(raw))


@given(raw=st.binary(max_size=40))
def test_decode_properties_on_any_bytes_declines_or_agrees_with_pamqp(raw: bytes) -> None:
    decoded = decode_properties(raw)
    if decoded is not None:
        assert slots(decoded) == pamqp_properties(raw) == slots(_decode_properties(raw))


@given(
    channel=st.integers(min_value=1, max_value=65535),
    consumer_tag=VALID_NAMES,
    delivery_tag=st.integers(min_value=0, max_value=2**63 - 1),
    redelivered=st.booleans(),
    exchange=VALID_NAMES,
    routing_key=VALID_NAMES,
    values=PROPERTIES,
    content=st.binary(max_size=9000),
    frame_max=st.sampled_from([4096, 5000, 131072]),
)
def test_encode_delivery_is_byte_identical_to_pamqp(
    *,
    channel: int,
    consumer_tag: str,
    delivery_tag: int,
    redelivered: bool,
    exchange: str,
    routing_key: str,
    values: dict[str, Any],
    content: bytes,
    frame_max: int,
) -> None:
    properties = Basic.Properties(**values)
    deliver = Basic.Deliver(
        consumer_tag=consumer_tag,
        delivery_tag=delivery_tag,
        redelivered=redelivered,
        exchange=exchange,
        routing_key=routing_key,
    )
    expected = frame.marshal(deliver, channel) + frame.marshal(
        header.ContentHeader(0, len(content), properties), channel
    )
    chunk = frame_max - 8
    for start in range(0, len(content), chunk):
        expected += frame.marshal(body.ContentBody(content[start : start + chunk]), channel)
    encoded = encode_delivery(
        channel,
        consumer_tag=consumer_tag,
        delivery_tag=delivery_tag,
        redelivered=redelivered,
        exchange=exchange,
        routing_key=routing_key,
        properties_raw=properties.marshal(),
        body=content,
        frame_max=frame_max,
    )
    assert encoded == expected


@given(
    consumer_tag=SHORT_TEXT,
    exchange=SHORT_TEXT,
    routing_key=st.text(max_size=300),
    content=st.binary(max_size=100),
)
def test_encode_delivery_equals_the_generic_encoder_for_any_names(
    consumer_tag: str, exchange: str, routing_key: str, content: bytes
) -> None:
    """Names pamqp's validate() refuses (RabbitMQ accepts them) encode as the generic path
    does; a routing key too long for a short string is declined, for the generic path to
    refuse."""
    encoded = encode_delivery(
        3,
        consumer_tag=consumer_tag,
        delivery_tag=9,
        redelivered=True,
        exchange=exchange,
        routing_key=routing_key,
        properties_raw=b"\x00\x00",
        body=content,
        frame_max=4096,
    )
    if len(routing_key.encode()) > 255:
        assert encoded is None
        return
    method = make_method(
        Basic.Deliver,
        consumer_tag=consumer_tag,
        delivery_tag=9,
        redelivered=True,
        exchange=exchange,
        routing_key=routing_key,
    )
    generic = encode_method(3, method) + b"".join(encode_content(3, b"\x00\x00", content, 4096))
    assert encoded == generic
