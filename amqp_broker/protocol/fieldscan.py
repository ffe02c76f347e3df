# Bounds the cost of decoding field tables before pamqp sees them.
#
# pamqp decodes tables recursively (deep nesting raises RecursionError) and copies the rest of the
# buffer for every value (a large array costs quadratic time). This module walks the same bytes
# iteratively, without building values, and refuses input that is nested too deep or would be too
# expensive; what it accepts pamqp can decode in bounded time. It also finds the end of each field,
# so callers can locate tables inside a method's arguments.
from __future__ import annotations

import struct

from amqp_broker.errors import AMQPError, ReplyCode

MAX_DEPTH = 64
# pamqp copies everything after a value's start once per value; this caps the bytes so copied per
# frame (32 MiB is a few milliseconds of memcpy).
MAX_COPY_COST = 32 * 1024 * 1024

_FIXED_SIZES = {
    ord("t"): 1,
    ord("b"): 1,
    ord("B"): 1,
    ord("s"): 2,
    ord("u"): 2,
    ord("I"): 4,
    ord("i"): 4,
    ord("l"): 8,
    ord("L"): 8,
    ord("f"): 4,
    ord("d"): 8,
    ord("D"): 5,
    ord("T"): 8,
    ord("V"): 0,
}
_SIZED = frozenset({ord("S"), ord("x")})
_ARRAY = ord("A")
_TABLE = ord("F")
_LONG = struct.Struct(">I")


def _error(detail: str) -> AMQPError:
    return AMQPError(ReplyCode.FRAME_ERROR, detail)


def _read_long(data: bytes | memoryview, pos: int, end: int) -> int:
    if pos + 4 > end:
        raise _error("truncated field table")
    value: int = _LONG.unpack_from(data, pos)[0]
    return value


def scan_table(data: bytes | memoryview, pos: int, end: int, *, is_array: bool = False) -> int:
    """Check the table (or array) whose length prefix starts at `pos`; return the offset after it.

    Raises AMQPError(FRAME_ERROR) for truncation, an unknown type letter, nesting deeper than
    MAX_DEPTH or a decoding cost above MAX_COPY_COST. It never recurses, so no input can exhaust
    the stack.
    """
    length = _read_long(data, pos, end)
    pos += 4
    container_end = pos + length
    if container_end > end:
        raise _error("field table length exceeds frame")
    # Each stack entry: (end offset, is this container an array).
    stack: list[tuple[int, bool]] = [(container_end, is_array)]
    cost = 0
    while stack:
        current_end, in_array = stack[-1]
        if pos == current_end:
            stack.pop()
            continue
        if pos > current_end:
            raise _error("field table value overruns its table")
        if not in_array:
            key_length = data[pos]
            pos += 1 + key_length
            if pos >= current_end:
                raise _error("truncated field table")
        cost += end - pos
        if cost > MAX_COPY_COST:
            raise _error("field table too expensive to decode")
        type_letter = data[pos]
        pos += 1
        fixed = _FIXED_SIZES.get(type_letter)
        if fixed is not None:
            pos += fixed
        elif type_letter in _SIZED:
            pos += 4 + _read_long(data, pos, current_end)
        elif type_letter in (_ARRAY, _TABLE):
            if len(stack) >= MAX_DEPTH:
                raise _error(f"field table nested deeper than {MAX_DEPTH} levels")
            inner_end = pos + 4 + _read_long(data, pos, current_end)
            if inner_end > current_end:
                raise _error("field table length exceeds its container")
            stack.append((inner_end, type_letter == _ARRAY))
            pos += 4
        else:
            raise _error(f"unknown field type {chr(type_letter)!r}")
    return pos
