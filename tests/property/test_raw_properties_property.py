# raw_properties splits and re-joins property lists and field tables without changing a byte,
# and what it encodes itself decodes (by pamqp) to the value it was given.
from __future__ import annotations

import datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pamqp import decode, encode
from pamqp.commands import Basic

from amqp_broker.core.raw_properties import (
    canonical_value,
    encode_value,
    join_properties,
    join_table,
    replace_property,
    shortstr,
    split_properties,
    split_table,
)

KEYS = st.text(max_size=12).filter(lambda key: len(key.encode("utf-8")) <= 255)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, width=32),
    st.text(max_size=20),
    st.binary(max_size=20).map(bytearray),
    st.datetimes(
        min_value=datetime.datetime(1970, 1, 2), max_value=datetime.datetime(2100, 1, 1)
    ).map(lambda moment: moment.replace(microsecond=0, tzinfo=datetime.UTC)),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3)),
    max_leaves=8,
)
TABLES = st.dictionaries(KEYS, VALUES, max_size=5)
SHORT = st.from_regex(r"[a-z0-9.]{1,20}", fullmatch=True)  # pamqp leaves "" out
PROPERTIES = st.builds(
    Basic.Properties,
    content_type=st.one_of(st.none(), SHORT),
    headers=st.one_of(st.none(), TABLES),
    delivery_mode=st.one_of(st.none(), st.sampled_from([1, 2])),
    priority=st.one_of(st.none(), st.integers(min_value=0, max_value=255)),
    reply_to=st.one_of(st.none(), SHORT),
    expiration=st.one_of(st.none(), SHORT),
    timestamp=st.one_of(
        st.none(),
        st.datetimes(
            min_value=datetime.datetime(1970, 1, 2), max_value=datetime.datetime(2100, 1, 1)
        ),
    ),
    app_id=st.one_of(st.none(), SHORT),
)


@settings(max_examples=60)
@given(PROPERTIES)
def test_split_and_join_properties_round_trip(properties: Basic.Properties) -> None:
    raw = properties.marshal()
    fields = split_properties(raw)
    assert list(fields) == [
        name for name in Basic.Properties.__slots__ if getattr(properties, name) not in (None, "")
    ]
    assert join_properties(fields) == raw
    assert (
        replace_property(raw, "reply_to", shortstr("r"))
        == Basic.Properties(
            **{**{n: getattr(properties, n) for n in Basic.Properties.__slots__}, "reply_to": "r"}
        ).marshal()
    )


@settings(max_examples=60)
@given(TABLES)
def test_split_and_join_table_round_trip(table: dict[str, Any]) -> None:
    encoded = encode.field_table(table)
    entries = split_table(encoded)
    assert join_table(entries) == encoded
    # pamqp writes booleans as 0 or 1 already, so nothing is canonicalised away
    assert all(canonical_value(value) == value for value in entries.values())


@settings(max_examples=60)
@given(VALUES)
def test_encode_value_decodes_to_the_value(value: Any) -> None:
    decoded = decode.embedded_value(encode_value(value))[1]
    assert decoded == value


@given(st.integers(min_value=2, max_value=255))
def test_canonical_value_writes_true_as_one(byte: int) -> None:
    nested = b"A\x00\x00\x00\x04t" + bytes((byte,)) + b"t\x00"
    assert canonical_value(nested) == b"A\x00\x00\x00\x04t\x01t\x00"
