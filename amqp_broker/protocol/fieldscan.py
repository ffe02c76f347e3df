# Bounds the cost of decoding field tables before pamqp sees them.
#
# pamqp decodes tables recursively (deep nesting raises RecursionError) and copies the rest of the
# buffer for every value (a large array costs quadratic time). This module walks the same bytes
# iteratively, without building values, and refuses input that is nested too deep or would be too
# expensive; what it accepts pamqp can decode in bounded time. It also finds the end of each field,
# so callers can locate tables inside a method's arguments.
from __future__ import annotations

import struct
import sys
from dataclasses import dataclass

from amqp_broker.errors import AMQPError, ReplyCode
from amqp_broker.field_types import FIXED_VALUE_SIZES

# The deepest nesting any setting may allow. Decoding (fieldtable, pamqp's encoder, json) recurses
# two or three Python frames per level, so this keeps a fully nested table far from Python's
# recursion limit of 1000 whatever the call stack above it.
DEPTH_CEILING = 128


@dataclass(frozen=True, slots=True)
class TableLimits:
    """How much work one frame's field tables may cost (BrokerConfig.max_table_depth and
    max_table_decode_cost; docs/security.md)."""

    max_depth: int = 64
    # Bytes from a value's start to the end of its frame, summed over the frame's values: what a
    # decoder that copies the rest of the buffer per value (as pamqp does) would copy. 32 MiB is a
    # few milliseconds of memcpy. 0 means no limit.
    max_cost: int = 32 * 1024 * 1024

    def __post_init__(self) -> None:
        if not 1 <= self.max_depth <= DEPTH_CEILING:
            raise ValueError(f"max_table_depth must be between 1 and {DEPTH_CEILING}")
        if self.max_cost < 0:
            raise ValueError("max_table_decode_cost must not be negative")


DEFAULT_LIMITS = TableLimits()
# For bytes the broker wrote itself (recovered records, injected messages): they passed the
# configured limits once, and the configured limits never exceed these.
TRUSTED_LIMITS = TableLimits(max_depth=DEPTH_CEILING, max_cost=0)

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


def scan_table(
    data: bytes | memoryview,
    pos: int,
    end: int,
    *,
    is_array: bool = False,
    limits: TableLimits = DEFAULT_LIMITS,
) -> int:
    """Check the table (or array) whose length prefix starts at `pos`; return the offset after it.

    Raises AMQPError(FRAME_ERROR) for truncation, an unknown type letter, or nesting or decoding
    cost above `limits`. It never recurses, so no input can exhaust the stack.
    """
    max_depth = limits.max_depth
    max_cost = limits.max_cost or sys.maxsize
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
        if cost > max_cost:
            raise _error("field table too expensive to decode")
        type_letter = data[pos]
        pos += 1
        fixed = FIXED_VALUE_SIZES.get(type_letter)
        if fixed is not None:
            pos += fixed
        elif type_letter in _SIZED:
            pos += 4 + _read_long(data, pos, current_end)
        elif type_letter in (_ARRAY, _TABLE):
            if len(stack) >= max_depth:
                raise _error(f"field table nested deeper than {max_depth} levels")
            inner_end = pos + 4 + _read_long(data, pos, current_end)
            if inner_end > current_end:
                raise _error("field table length exceeds its container")
            stack.append((inner_end, type_letter == _ARRAY))
            pos += 4
        else:
            raise _error(f"unknown field type {chr(type_letter)!r}")
    return pos
