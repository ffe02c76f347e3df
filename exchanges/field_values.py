# Decoded AMQP field values seen the way RabbitMQ (Erlang) sees them, for headers matching.
#
# Rules kept here (RabbitMQ compares header values with Erlang's `==` on the decoded value,
# ignoring the wire type tag at the top level but not inside arrays and tables):
# - longstr and byte array are both binaries: "abc" equals b"abc" (str compared as UTF-8).
# - ints and floats compare by value (1 == 1.0); a timestamp is its integer POSIX seconds, so it
#   also equals that int.
# - bool is an atom: True never equals 1, "true" or anything but True.
# - a decimal is {Scale, Unscaled}: equal only to a decimal with the same scale and digits
#   (Decimal("1.0") != Decimal("1.00") != 1).
# - void equals nothing (a void *binding* value means "present", handled by the headers type).
# - array elements and table entries carry their type tag, so inside them 1 != 1.0 and
#   "a" != b"a". All integer widths count as one type (the decoded value has lost the width),
#   and tables compare regardless of key order.
from __future__ import annotations

import datetime
import decimal
from collections.abc import Mapping
from typing import Final

Term = object
"""A hashable value whose Python == mirrors Erlang == on the decoded AMQP value."""


class _Unmatchable:
    """A header value of a type no field table carries; it equals nothing but itself."""

    __slots__ = ()


_VOID: Final = ("void",)


def to_term(value: object) -> Term:
    """The comparison term of a top-level header or binding value.

    Unknown types become a fresh unmatchable object rather than raising: a message must
    always be routable, it just cannot match on that header.
    """
    if value is None:
        return _VOID
    if isinstance(value, bool):
        return ("atom", value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, datetime.datetime):
        return timestamp_seconds(value)
    if isinstance(value, decimal.Decimal):
        return ("decimal", *decimal_parts(value))
    if isinstance(value, Mapping):
        return ("table", _table_term(value))
    if isinstance(value, list | tuple):
        return ("array", tuple(_typed_term(item) for item in value))
    return _Unmatchable()


def _typed_term(value: object) -> tuple[str, Term]:
    """A value inside an array or table: its term paired with its type tag."""
    return (type_tag(value), to_term(value))


def _table_term(table: Mapping[object, object]) -> frozenset[tuple[object, str, Term]]:
    # a frozenset makes nested tables order-insensitive (keys are unique)
    return frozenset((key, *_typed_term(value)) for key, value in table.items())


def type_tag(value: object) -> str:
    """RabbitMQ's name for the field type a decoded value most likely travelled as."""
    if value is None:
        return "void"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "signedint" if -(2**31) <= value < 2**31 else "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "longstr"
    if isinstance(value, bytes | bytearray | memoryview):
        return "binary"
    if isinstance(value, datetime.datetime):
        return "timestamp"
    if isinstance(value, decimal.Decimal):
        return "decimal"
    if isinstance(value, Mapping):
        return "table"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def timestamp_seconds(value: datetime.datetime) -> int:
    """Whole POSIX seconds, as the wire carries them; a naive datetime is taken as UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=datetime.UTC)
    return int(value.timestamp())


def decimal_parts(value: decimal.Decimal) -> tuple[int, int]:
    """(scale, unscaled) as the wire carries a decimal; NaN/infinity give (-1, 0)."""
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int) or not value.is_finite():
        return (-1, 0)
    if exponent > 0:
        return (0, int(value))
    return (-exponent, int(value.scaleb(-exponent)))


def erlang_repr(value: object) -> str:
    """Approximate Erlang's ~p of a decoded value, for RabbitMQ-like error messages."""
    if value is None:
        return "undefined"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return _binary_repr(value.encode("utf-8"))
    if isinstance(value, bytes | bytearray | memoryview):
        return _binary_repr(bytes(value))
    if isinstance(value, datetime.datetime):
        return str(timestamp_seconds(value))
    if isinstance(value, decimal.Decimal):
        scale, unscaled = decimal_parts(value)
        return f"{{{scale},{unscaled}}}"
    if isinstance(value, Mapping):
        entries = ",".join(
            f"{{{erlang_repr(str(key))},{type_tag(item)},{erlang_repr(item)}}}"
            for key, item in value.items()
        )
        return f"[{entries}]"
    if isinstance(value, list | tuple):
        items = ",".join(f"{{{type_tag(item)},{erlang_repr(item)}}}" for item in value)
        return f"[{items}]"
    return repr(value)


def _binary_repr(data: bytes) -> str:
    if all(0x20 <= byte < 0x7F for byte in data):
        escaped = data.decode("ascii").replace("\\", "\\\\").replace('"', '\\"')
        return f'<<"{escaped}">>'
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if text and text.isprintable():
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        return f'<<"{escaped}"/utf8>>'
    return "<<" + ",".join(str(byte) for byte in data) + ">>"
