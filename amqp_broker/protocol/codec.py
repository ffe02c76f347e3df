# Encoding and decoding of frame payloads: methods, content headers, bodies, heartbeats.
#
# Rules kept here:
# - Decoding never lets a pamqp exception escape: malformed input becomes AMQPError(FRAME_ERROR),
#   an unknown method id AMQPError(NOT_IMPLEMENTED). Tables are checked by fieldscan first.
# - Encoding skips pamqp's validate(): its name regexes reject names RabbitMQ accepts
#   (`a=b`, `очередь`, exchange names over 127 bytes), and we only ever echo names back.
from __future__ import annotations

import struct
from typing import Any, NamedTuple, TypeVar

from pamqp import commands, encode
from pamqp.base import Frame as Method
from pamqp.commands import Basic

from amqp_broker.errors import AMQPError, ReplyCode
from amqp_broker.protocol.fastcodec import (
    PUBLISH_INDEX,
    decode_properties,
    decode_publish,
)
from amqp_broker.protocol.fieldscan import DEFAULT_LIMITS, TableLimits, scan_table
from amqp_broker.protocol.fieldtable import decode_table, timestamp_value

FRAME_METHOD = 1
FRAME_HEADER = 2
FRAME_BODY = 3
FRAME_HEARTBEAT = 8
FRAME_END = 0xCE
FRAME_OVERHEAD = 8  # 7-byte header + end byte

ACCESS_REQUEST_INDEX = 0x001E000A  # class 30 "access", gone from 0-9-1 but old clients send it
ACCESS_REQUEST_OK_PAYLOAD = b"\x00\x1e\x00\x0b\x00\x01"  # access.request-ok, ticket=1

_HEADER = struct.Struct(">BHI")
_INDEX = struct.Struct(">I")
_CONTENT_HEADER = struct.Struct(">HHQ")

MethodT = TypeVar("MethodT", bound=Method)

HEARTBEAT_FRAME = _HEADER.pack(FRAME_HEARTBEAT, 0, 0) + bytes((FRAME_END,))


def split_index(index: int) -> tuple[int, int]:
    return index >> 16, index & 0xFFFF


def _skip_field(data: bytes, pos: int, end: int, amqp_type: str, limits: TableLimits) -> int:
    """Offset after one method argument of `amqp_type`, scanning tables on the way."""
    if amqp_type == "octet":
        return pos + 1
    if amqp_type == "short":
        return pos + 2
    if amqp_type == "long":
        return pos + 4
    if amqp_type in ("longlong", "timestamp"):
        return pos + 8
    if amqp_type == "shortstr":
        if pos >= end:
            raise AMQPError(ReplyCode.FRAME_ERROR, "truncated method frame")
        return pos + 1 + data[pos]
    if amqp_type == "longstr":
        if pos + 4 > end:
            raise AMQPError(ReplyCode.FRAME_ERROR, "truncated method frame")
        return pos + 4 + int.from_bytes(data[pos : pos + 4], "big")
    if amqp_type == "table":
        return scan_table(data, pos, end, limits=limits)
    raise AMQPError(ReplyCode.FRAME_ERROR, f"unexpected argument type {amqp_type}")


def _method_tables(method: Method, data: bytes, limits: TableLimits) -> list[tuple[str, int, int]]:
    """(argument name, start, end) of every table in the arguments, each checked by fieldscan."""
    end = len(data)
    pos = 4
    in_bits = False
    tables: list[tuple[str, int, int]] = []
    for name in method.__slots__:
        amqp_type = method.amqp_type(name)
        if amqp_type == "bit":
            if not in_bits:
                pos += 1
                in_bits = True
            continue
        in_bits = False
        start = pos
        pos = _skip_field(data, pos, end, amqp_type, limits)
        if pos > end:
            raise AMQPError(ReplyCode.FRAME_ERROR, "truncated method frame")
        if amqp_type == "table":
            tables.append((name, start, pos))
    return tables


_EMPTY_TABLE = b"\x00\x00\x00\x00"

_METHODS_WITH_TABLES = frozenset(
    index
    for index, cls in commands.INDEX_MAPPING.items()
    if any(getattr(cls, "_" + name) == "table" for name in getattr(cls, "__slots__", ()))
)


_METHODS_WITH_DELIVERY_TAGS = frozenset(
    cls.index for cls in (Basic.Ack, Basic.Nack, Basic.Reject, Basic.Deliver, Basic.GetOk)
)


def decode_method(payload: bytes, limits: TableLimits = DEFAULT_LIMITS) -> Method:
    """Decode a method frame's payload; `limits` bound the cost of its field tables.

    Raises AMQPError: NOT_IMPLEMENTED for an unknown class/method id, FRAME_ERROR for anything that
    does not decode. Any other exception escaping from here is a bug.
    """
    if len(payload) < 4:
        raise AMQPError(ReplyCode.FRAME_ERROR, "method frame too short")
    index: int = _INDEX.unpack_from(payload)[0]
    if index == PUBLISH_INDEX:
        publish = decode_publish(payload)
        if publish is not None:
            return publish
    method_class = commands.INDEX_MAPPING.get(index)
    if method_class is None:
        class_id, method_id = split_index(index)
        raise AMQPError(
            ReplyCode.NOT_IMPLEMENTED,
            f"unknown method class {class_id} method {method_id}",
            class_id,
            method_id,
        )
    method: Method = method_class()
    tables = _method_tables(method, payload, limits) if index in _METHODS_WITH_TABLES else []
    arguments = payload
    if tables:
        # pamqp decodes the rest; the tables are decoded the way RabbitMQ reads them.
        parts, last = [], 0
        for _name, start, end in tables:
            parts += [payload[last:start], _EMPTY_TABLE]
            last = end
        arguments = b"".join([*parts, payload[last:]])
    try:
        method.unmarshal(arguments[4:])
        for name, start, _end in tables:
            setattr(method, name, decode_table(payload, start)[0])
    except (struct.error, ValueError, TypeError, IndexError, RecursionError) as exc:
        class_id, method_id = split_index(index)
        detail = (
            "Malformed UTF-8 in shortstr"  # RabbitMQ 3.10.8's text
            if isinstance(exc, UnicodeDecodeError)
            else f"cannot decode {method.name}"
        )
        raise AMQPError(ReplyCode.FRAME_ERROR, detail, class_id, method_id) from exc
    if index in _METHODS_WITH_DELIVERY_TAGS:
        tag: int = getattr(method, "delivery_tag", 0)
        if tag < 0:
            # pamqp reads a long-long as signed; in AMQP it is unsigned (RabbitMQ echoes 2**64-1).
            method.delivery_tag = tag + (1 << 64)  # type: ignore[attr-defined]
    return method


def encode_method_payload(method: Method) -> bytes:
    """pamqp's Frame.marshal without validate(); the bit packing follows the spec."""
    parts: list[bytes] = [_INDEX.pack(method.index)]
    bits = 0
    bit_count = 0
    for name in method.__slots__:
        amqp_type = method.amqp_type(name)
        value: Any = getattr(method, name, None)
        if amqp_type == "bit":
            if value:
                bits |= 1 << bit_count
            bit_count += 1
            if bit_count == 8:
                parts.append(bytes((bits,)))
                bits = bit_count = 0
            continue
        if bit_count:
            parts.append(bytes((bits,)))
            bits = bit_count = 0
        if amqp_type == "shortstr":
            parts.append(_shortstr(value or ""))
        elif amqp_type == "table":
            parts.append(encode.field_table(value or {}))
        else:
            parts.append(encode.by_type(value if value is not None else 0, amqp_type))
    if bit_count:
        parts.append(bytes((bits,)))
    return b"".join(parts)


def make_method(method_class: type[MethodT], **fields: Any) -> MethodT:
    """Build a reply without pamqp's constructor checks, which reject names RabbitMQ accepts
    (`a=b`, `очередь`, exchange names over 127 bytes); encode_method does not validate either."""
    method = method_class()
    for name, value in fields.items():
        setattr(method, name, value)
    return method


def _shortstr(value: str) -> bytes:
    raw = value.encode("utf-8")
    if len(raw) > 255:
        raise ValueError("short string longer than 255 bytes")
    return bytes((len(raw),)) + raw


def frame(frame_type: int, channel: int, payload: bytes) -> bytes:
    return _HEADER.pack(frame_type, channel, len(payload)) + payload + b"\xce"


def encode_method(channel: int, method: Method) -> bytes:
    return frame(FRAME_METHOD, channel, encode_method_payload(method))


def encode_content(
    channel: int, properties_raw: bytes, body: bytes, frame_max: int, class_id: int = 60
) -> list[bytes]:
    """Content header and body frames; bodies are split so no frame exceeds frame_max."""
    out = [
        frame(
            FRAME_HEADER,
            channel,
            _CONTENT_HEADER.pack(class_id, 0, len(body)) + properties_raw,
        )
    ]
    chunk = frame_max - FRAME_OVERHEAD
    view = memoryview(body)
    for start in range(0, len(body), chunk):
        out.append(frame(FRAME_BODY, channel, bytes(view[start : start + chunk])))
    return out


_new_tuple = tuple.__new__


class ContentHeader(NamedTuple):
    """One per publish: a NamedTuple is immutable and cheaper to build than a frozen dataclass."""

    class_id: int
    body_size: int
    properties_raw: bytes  # property flags and list, exactly as the publisher sent them
    properties: Basic.Properties


def decode_content_header(payload: bytes, limits: TableLimits = DEFAULT_LIMITS) -> ContentHeader:
    """Parse a content header frame payload, keeping the raw property bytes for pass-through;
    `limits` bound the cost of the headers table.

    Raises AMQPError(FRAME_ERROR) when it does not decode.
    """
    if len(payload) < 14:
        raise AMQPError(ReplyCode.FRAME_ERROR, "content header too short")
    class_id, _weight, body_size = _CONTENT_HEADER.unpack_from(payload)
    return content_header(class_id, body_size, bytes(payload[12:]), limits)


def content_header(
    class_id: int, body_size: int, properties_raw: bytes, limits: TableLimits = DEFAULT_LIMITS
) -> ContentHeader:
    """A content header from its fields; raises AMQPError(FRAME_ERROR) when the property
    list does not decode."""
    properties = decode_properties(properties_raw)  # the common case, without a generic walk
    if properties is None:
        properties = _decode_properties(properties_raw, limits)
    # tuple.__new__ directly: the NamedTuple's own __new__ is a Python-level function
    return _new_tuple(ContentHeader, (class_id, body_size, properties_raw, properties))


_PROPERTY_LAYOUT: tuple[tuple[str, int, str], ...] = tuple(
    (name, Basic.Properties.flags[name], Basic.Properties.amqp_type(name))
    for name in Basic.Properties.__slots__
)


def _decode_properties(raw: bytes, limits: TableLimits = DEFAULT_LIMITS) -> Basic.Properties:
    """The property list as RabbitMQ reads it: the headers table with RabbitMQ's type letters,
    a timestamp of any 64-bit size, short strings that need not be UTF-8 (decoded with
    replacement characters; consumers get the raw bytes anyway). Runs once per publish."""
    properties = Basic.Properties()
    flags, pos = _property_flags(raw)
    end = len(raw)
    for name, flag, amqp_type in _PROPERTY_LAYOUT:
        if not flags & flag:
            continue
        value: Any
        if amqp_type == "shortstr":
            after = pos + 1 + raw[pos] if pos < end else end + 1
            value = raw[pos + 1 : after].decode("utf-8", "replace")
        elif amqp_type == "octet":
            after = pos + 1
            value = raw[pos] if after <= end else None
        elif amqp_type == "timestamp":
            after = pos + 8
            value = timestamp_value(int.from_bytes(raw[pos:after], "big"))
        else:
            after = scan_table(raw, pos, end, limits=limits)
            value = decode_table(raw, pos)[0]
        if after > end:
            raise AMQPError(ReplyCode.FRAME_ERROR, "content header properties truncated")
        setattr(properties, name, value)
        pos = after
    return properties


def _property_flags(raw: bytes) -> tuple[int, int]:
    flags = 0
    pos = 0
    word = 0
    while True:
        if pos + 2 > len(raw):
            raise AMQPError(ReplyCode.FRAME_ERROR, "content header flags truncated")
        partial = int.from_bytes(raw[pos : pos + 2], "big")
        flags |= (partial & 0xFFFE) << (word * 16)
        pos += 2
        word += 1
        if not partial & 1:
            return flags, pos


def encode_properties(properties: Basic.Properties) -> bytes:
    """Property flags and list for a content header the broker builds itself."""
    return properties.marshal()
