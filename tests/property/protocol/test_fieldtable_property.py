# fieldtable decodes what pamqp encodes exactly as pamqp decodes it, wherever pamqp and RabbitMQ
# agree; where they differ (timestamps past 2^32, decimals with the top bit set) it follows
# RabbitMQ. Content headers decode to the properties pamqp would give.
from __future__ import annotations

import datetime
import decimal
import struct
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pamqp import decode, encode
from pamqp.commands import Basic

from amqp_broker.protocol.codec import decode_content_header
from amqp_broker.protocol.fieldscan import scan_table
from amqp_broker.protocol.fieldtable import decode_table

KEYS = st.text(max_size=20).filter(lambda key: len(key.encode("utf-8")) <= 255)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, width=32),
    st.text(max_size=30),
    st.binary(max_size=30).map(bytearray),
    st.datetimes(
        min_value=datetime.datetime(1970, 1, 2),
        max_value=datetime.datetime(2106, 1, 1),
    ).map(lambda moment: moment.replace(microsecond=0, tzinfo=datetime.UTC)),
    st.decimals(
        allow_nan=False, allow_infinity=False, places=2, min_value=0, max_value=2**31 // 100
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=20,
)
TABLES = st.dictionaries(KEYS, VALUES, max_size=6)


@settings(max_examples=60)  # nested tables are slow to generate
@given(TABLES)
def test_decode_table_equals_pamqp_where_they_agree(table: dict[str, Any]) -> None:
    encoded = encode.field_table(table)
    assert scan_table(encoded, 0, len(encoded)) == len(encoded)
    ours, end = decode_table(encoded, 0)
    assert end == len(encoded)
    assert ours == decode.field_table(encoded)[1]


@given(st.integers(min_value=2**32, max_value=2**64 - 1))
def test_timestamps_are_seconds_of_any_size(seconds: int) -> None:
    encoded = b"\x00\x00\x00\x0b\x01kT" + struct.pack(">Q", seconds)
    value = decode_table(encoded, 0)[0]["k"]
    if isinstance(value, datetime.datetime):
        assert int(value.timestamp()) == seconds
    else:
        assert value == seconds


@given(st.integers(min_value=0, max_value=255), st.integers(min_value=0, max_value=2**32 - 1))
def test_decimal_digits_are_unsigned(scale: int, unscaled: int) -> None:
    encoded = b"\x00\x00\x00\x08\x01kD" + struct.pack(">BI", scale, unscaled)
    assert decode_table(encoded, 0)[0]["k"] == decimal.Decimal(unscaled).scaleb(-scale)


PROPERTIES = st.builds(
    Basic.Properties,
    content_type=st.one_of(st.none(), st.from_regex(r"[a-z/]{1,20}", fullmatch=True)),
    headers=st.one_of(st.none(), TABLES),
    delivery_mode=st.one_of(st.none(), st.sampled_from([1, 2])),
    priority=st.one_of(st.none(), st.integers(min_value=0, max_value=9)),
    correlation_id=st.one_of(st.none(), st.from_regex(r"[a-z0-9]{1,20}", fullmatch=True)),
    reply_to=st.one_of(st.none(), st.from_regex(r"[a-z.]{1,30}", fullmatch=True)),
    expiration=st.one_of(st.none(), st.from_regex(r"[0-9]{1,6}", fullmatch=True)),
    timestamp=st.one_of(
        st.none(),
        # bounded, not clamped: clamping 29 February of a later leap year to 2100 (no leap
        # year) raised ValueError while generating
        st.datetimes(
            min_value=datetime.datetime(1970, 1, 2), max_value=datetime.datetime(2100, 12, 31)
        ).map(lambda moment: moment.replace(microsecond=0)),
    ),
    app_id=st.one_of(st.none(), st.from_regex(r"[a-z]{1,10}", fullmatch=True)),
)


@settings(max_examples=60)
@given(PROPERTIES)
def test_content_header_properties_equal_pamqps(properties: Basic.Properties) -> None:
    raw = properties.marshal()
    payload = struct.pack(">HHQ", 60, 0, 5) + raw
    ours = decode_content_header(payload).properties
    theirs = Basic.Properties()
    flags = int.from_bytes(raw[:2], "big")
    theirs.unmarshal(flags, raw[2:])
    assert {name: getattr(ours, name) for name in Basic.Properties.__slots__} == {
        name: getattr(theirs, name) for name in Basic.Properties.__slots__
    }
