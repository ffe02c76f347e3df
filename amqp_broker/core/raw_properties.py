# Editing a message's content-header property bytes without re-encoding what is kept.
#
# Messages carry the publisher's property bytes through to consumers unchanged. When the broker
# itself must change a property (direct reply-to's reply_to, a dead-lettered copy's headers), a
# re-encode through pamqp would change field types it did not mean to touch: pamqp picks the
# smallest integer type, writes doubles as floats and cannot encode a long string that is not
# UTF-8. So the property list and header table are split into their encoded fields, the changed
# ones are replaced, and everything else is copied as it came.
#
# Rules kept here:
# - Input has already been checked by the protocol layer (fieldscan): a malformed property list
#   or table here is a bug, reported as ValueError.
# - Field values the broker writes itself use RabbitMQ's types (integers as signed 64-bit `l`,
#   floats as `d`, strings as `S`), so a dead-lettered copy's x-death matches RabbitMQ's bytes.
# - Kept values are copied byte for byte, except that booleans are written 0 or 1, as RabbitMQ
#   writes them back (it decodes `t` to true/false).
from __future__ import annotations

import datetime
import decimal
import struct
from collections.abc import Mapping

from pamqp.commands import Basic

from amqp_broker.field_types import FIXED_VALUE_SIZES

_NAMES: tuple[str, ...] = tuple(Basic.Properties.__slots__)
_FIXED = {"octet": 1, "timestamp": 8}
_LONG = struct.Struct(">I")


def split_properties(raw: bytes) -> dict[str, bytes]:
    """Each present property's encoded value, by pamqp's property name, in the spec's order."""
    flags = int.from_bytes(raw[0:2], "big")
    pos = 2
    while raw[pos - 1] & 1:  # a continuation flag word (none are defined for basic)
        pos += 2
    fields: dict[str, bytes] = {}
    for name in _NAMES:
        if not flags & Basic.Properties.flags[name]:
            continue
        kind = Basic.Properties.amqp_type(name)
        if kind == "shortstr":
            end = pos + 1 + raw[pos]
        elif kind == "table":
            end = pos + 4 + _LONG.unpack_from(raw, pos)[0]
        else:
            end = pos + _FIXED[kind]
        if end > len(raw):
            raise ValueError("property list truncated")
        fields[name] = raw[pos:end]
        pos = end
    return fields


def join_properties(fields: Mapping[str, bytes]) -> bytes:
    flags = 0
    for name in fields:
        flags |= Basic.Properties.flags[name]
    return flags.to_bytes(2, "big") + b"".join(fields[name] for name in _NAMES if name in fields)


def replace_property(raw: bytes, name: str, encoded: bytes | None) -> bytes:
    """The property list with one property set to `encoded` (or removed, for None)."""
    fields = split_properties(raw)
    if encoded is None:
        fields.pop(name, None)
    else:
        fields[name] = encoded
    return join_properties(fields)


def shortstr(value: str) -> bytes:
    """A short string as the wire carries it; raises ValueError beyond 255 bytes."""
    data = value.encode("utf-8")
    if len(data) > 255:
        raise ValueError("short string longer than 255 bytes")
    return bytes((len(data),)) + data


def split_table(encoded: bytes) -> dict[str, bytes]:
    """A field table (with its length prefix) as key -> encoded value (type letter first)."""
    end = 4 + _LONG.unpack_from(encoded, 0)[0]
    pos = 4
    entries: dict[str, bytes] = {}
    while pos < end:
        key_end = pos + 1 + encoded[pos]
        key = encoded[pos + 1 : key_end].decode("utf-8", "replace")
        value_end = _value_end(encoded, key_end)
        entries[key] = encoded[key_end:value_end]
        pos = value_end
    if pos != end:
        raise ValueError("field table overruns its length")
    return entries


def join_table(entries: Mapping[str, bytes]) -> bytes:
    body = b"".join(shortstr(key) + value for key, value in entries.items())
    return _LONG.pack(len(body)) + body


def _value_end(data: bytes, pos: int) -> int:
    letter = data[pos]
    size = FIXED_VALUE_SIZES.get(letter)
    if size is not None:
        return pos + 1 + size
    if letter in b"SxAF":
        length: int = _LONG.unpack_from(data, pos + 1)[0]
        return pos + 5 + length
    raise ValueError(f"unknown field type {chr(letter)!r}")


def canonical_value(encoded: bytes) -> bytes:
    """An encoded value as RabbitMQ writes it back after decoding it: booleans become 0 or 1,
    also inside arrays and tables; everything else is unchanged."""
    if b"t" not in encoded:
        return encoded
    out = bytearray()
    _copy_value(encoded, 0, out)
    return bytes(out)


def _copy_value(data: bytes, pos: int, out: bytearray) -> int:
    letter = data[pos]
    end = _value_end(data, pos)
    if letter == ord("t"):
        out += b"t\x01" if data[pos + 1] else b"t\x00"
    elif letter in b"AF":
        inner = bytearray()
        inner_pos = pos + 5
        while inner_pos < end:
            if letter == ord("F"):
                key_end = inner_pos + 1 + data[inner_pos]
                inner += data[inner_pos:key_end]
                inner_pos = key_end
            inner_pos = _copy_value(data, inner_pos, inner)
        out += bytes((letter,)) + _LONG.pack(len(inner)) + inner
    else:
        out += data[pos:end]
    return end


def encode_value(value: object) -> bytes:
    """A value the broker writes, with the type RabbitMQ would give it. Raises TypeError for a
    value no field table can hold."""
    if value is None:
        return b"V"
    if isinstance(value, bool):
        return b"t\x01" if value else b"t\x00"
    if isinstance(value, int):
        return b"l" + struct.pack(">q", value)
    if isinstance(value, float):
        return b"d" + struct.pack(">d", value)
    if isinstance(value, str):
        data = value.encode("utf-8")
        return b"S" + _LONG.pack(len(data)) + data
    if isinstance(value, bytes | bytearray):
        return b"x" + _LONG.pack(len(value)) + bytes(value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return b"T" + struct.pack(">Q", int(value.timestamp()))
    if isinstance(value, decimal.Decimal):
        exponent = value.as_tuple().exponent
        scale = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        unscaled = int(value.scaleb(scale))
        return b"D" + struct.pack(">BI", scale, unscaled & 0xFFFFFFFF)
    if isinstance(value, Mapping):
        return b"F" + join_table({str(key): encode_value(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        body = b"".join(encode_value(item) for item in value)
        return b"A" + _LONG.pack(len(body)) + body
    raise TypeError(f"cannot encode {type(value).__name__} in a field table")
