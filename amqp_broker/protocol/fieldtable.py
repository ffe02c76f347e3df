# Decoding field tables and arrays the way RabbitMQ 3.10 reads them (rabbit_binary_parser).
#
# pamqp's decoder departs from RabbitMQ for a few type letters: it reads a timestamp above 2^32
# as milliseconds and refuses one past the year 9999 (RabbitMQ accepts any 64-bit value, in
# seconds), and it reads a decimal's digits as signed (RabbitMQ: unsigned). Both message headers
# and method arguments (binding arguments, above all) go through this module, so a headers
# exchange compares values decoded one way.
#
# Rules kept here:
# - Input has passed fieldscan.scan_table: lengths are in bounds, nesting is at most
#   fieldscan.DEPTH_CEILING deep (so recursion here is safe) and every type letter is one of
#   RabbitMQ's. Anything else reaching here is a bug and raises ValueError.
# - Values are the Python types pamqp gives, so clients' and exchanges' expectations hold:
#   bool, int, float, decimal.Decimal, str (bytes when a long string is not UTF-8), bytearray
#   for 'x', datetime (UTC) for a timestamp (int seconds when no datetime can hold it), None,
#   list, dict.
from __future__ import annotations

import datetime
import decimal
import struct
from collections.abc import Callable
from typing import Any

_LONG = struct.Struct(">I")

_FIXED: dict[int, tuple[struct.Struct, Callable[[Any], Any]]] = {
    ord("b"): (struct.Struct(">b"), int),
    ord("B"): (struct.Struct(">B"), int),
    ord("s"): (struct.Struct(">h"), int),
    ord("u"): (struct.Struct(">H"), int),
    ord("I"): (struct.Struct(">i"), int),
    ord("i"): (struct.Struct(">I"), int),
    ord("l"): (struct.Struct(">q"), int),
    ord("L"): (struct.Struct(">q"), int),  # RabbitMQ reads 'L' as signed too
    ord("f"): (struct.Struct(">f"), float),
    ord("d"): (struct.Struct(">d"), float),
}
_TIMESTAMP = struct.Struct(">Q")
_DECIMAL = struct.Struct(">BI")


def timestamp_value(seconds: int) -> datetime.datetime | int:
    """A timestamp as a UTC datetime, or the plain seconds when no datetime reaches that far."""
    try:
        return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return seconds


def decode_table(data: bytes, pos: int) -> tuple[dict[str, Any], int]:
    """The table whose length prefix starts at `pos`, and the offset after it."""
    end = pos + 4 + _LONG.unpack_from(data, pos)[0]
    pos += 4
    table: dict[str, Any] = {}
    while pos < end:
        key_end = pos + 1 + data[pos]
        key = data[pos + 1 : key_end].decode("utf-8", "replace")
        table[key], pos = decode_value(data, key_end)
    return table, end


def decode_array(data: bytes, pos: int) -> tuple[list[Any], int]:
    end = pos + 4 + _LONG.unpack_from(data, pos)[0]
    pos += 4
    items: list[Any] = []
    while pos < end:
        item, pos = decode_value(data, pos)
        items.append(item)
    return items, end


def decode_value(data: bytes, pos: int) -> tuple[Any, int]:
    """The value whose type letter is at `pos`, and the offset after it."""
    letter = data[pos]
    pos += 1
    fixed = _FIXED.get(letter)
    if fixed is not None:
        layout, convert = fixed
        return convert(layout.unpack_from(data, pos)[0]), pos + layout.size
    if letter == ord("S"):
        end = pos + 4 + _LONG.unpack_from(data, pos)[0]
        raw = data[pos + 4 : end]
        try:
            return raw.decode("utf-8"), end
        except UnicodeDecodeError:
            return bytes(raw), end
    if letter == ord("t"):
        return data[pos] != 0, pos + 1
    if letter == ord("T"):
        return timestamp_value(_TIMESTAMP.unpack_from(data, pos)[0]), pos + 8
    if letter == ord("F"):
        return decode_table(data, pos)
    if letter == ord("A"):
        return decode_array(data, pos)
    if letter == ord("V"):
        return None, pos
    if letter == ord("x"):
        end = pos + 4 + _LONG.unpack_from(data, pos)[0]
        return bytearray(data[pos + 4 : end]), end
    if letter == ord("D"):
        scale, unscaled = _DECIMAL.unpack_from(data, pos)
        return decimal.Decimal(unscaled).scaleb(-scale), pos + 5
    raise ValueError(f"unknown field type {chr(letter)!r}")
