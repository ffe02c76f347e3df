# Encoding and decoding of frame payloads: methods, content headers, bodies, heartbeats.
#
# Rules kept here:
# - Decoding never lets a pamqp exception escape: malformed input becomes AMQPError(FRAME_ERROR),
#   an unknown method id AMQPError(NOT_IMPLEMENTED). Tables are checked by fieldscan first.
# - Encoding skips pamqp's validate(): its name regexes reject names RabbitMQ accepts
#   (`a=b`, `очередь`, exchange names over 127 bytes), and we only ever echo names back.
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, TypeVar

from pamqp import commands, encode
from pamqp.base import Frame as Method
from pamqp.commands import Basic

from amqp_broker.errors import AMQPError, ReplyCode
from amqp_broker.protocol.fieldscan import scan_table

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


def _skip_field(data: bytes, pos: int, end: int, amqp_type: str) -> int:
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
        return scan_table(data, pos, end)
    raise AMQPError(ReplyCode.FRAME_ERROR, f"unexpected argument type {amqp_type}")


def _check_method_tables(method: Method, data: bytes) -> None:
    """Walk the arguments so every table is bounded before pamqp decodes it."""
    end = len(data)
    pos = 4
    in_bits = False
    for name in method.__slots__:
        amqp_type = method.amqp_type(name)
        if amqp_type == "bit":
            if not in_bits:
                pos += 1
                in_bits = True
            continue
        in_bits = False
        pos = _skip_field(data, pos, end, amqp_type)
        if pos > end:
            raise AMQPError(ReplyCode.FRAME_ERROR, "truncated method frame")


_METHODS_WITH_TABLES = frozenset(
    index
    for index, cls in commands.INDEX_MAPPING.items()
    if any(getattr(cls, "_" + name) == "table" for name in getattr(cls, "__slots__", ()))
)


def decode_method(payload: bytes) -> Method:
    """Decode a method frame's payload.

    Raises AMQPError: NOT_IMPLEMENTED for an unknown class/method id, FRAME_ERROR for anything that
    does not decode. Any other exception escaping from here is a bug.
    """
    if len(payload) < 4:
        raise AMQPError(ReplyCode.FRAME_ERROR, "method frame too short")
    index: int = _INDEX.unpack_from(payload)[0]
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
    if index in _METHODS_WITH_TABLES:
        _check_method_tables(method, payload)
    try:
        method.unmarshal(payload[4:])
    except (struct.error, ValueError, TypeError, IndexError, RecursionError) as exc:
        class_id, method_id = split_index(index)
        raise AMQPError(
            ReplyCode.FRAME_ERROR, f"cannot decode {method.name}", class_id, method_id
        ) from exc
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


@dataclass(frozen=True, slots=True)
class ContentHeader:
    class_id: int
    body_size: int
    properties_raw: bytes  # property flags and list, exactly as the publisher sent them
    properties: Basic.Properties


def decode_content_header(payload: bytes) -> ContentHeader:
    """Parse a content header frame payload, keeping the raw property bytes for pass-through.

    Raises AMQPError(FRAME_ERROR) when it does not decode.
    """
    if len(payload) < 14:
        raise AMQPError(ReplyCode.FRAME_ERROR, "content header too short")
    class_id, _weight, body_size = _CONTENT_HEADER.unpack_from(payload)
    properties_raw = payload[12:]
    properties = Basic.Properties()
    flags, pos = _property_flags(properties_raw)
    end = len(properties_raw)
    if flags & Basic.Properties.flags["headers"]:
        # headers is the only table; properties before it are shortstrings.
        for name in Basic.Properties.__slots__:
            if name == "headers":
                break
            if flags & Basic.Properties.flags[name]:
                pos = _skip_field(properties_raw, pos, end, Basic.Properties.amqp_type(name))
        scan_table(properties_raw, pos, end)
    try:
        properties.unmarshal(flags, properties_raw[_flag_bytes(properties_raw) :])
    except (struct.error, ValueError, TypeError, IndexError, RecursionError) as exc:
        raise AMQPError(ReplyCode.FRAME_ERROR, "cannot decode content header") from exc
    return ContentHeader(class_id, body_size, bytes(properties_raw), properties)


def _flag_bytes(raw: bytes) -> int:
    return _property_flags(raw)[1]


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


def replace_property(properties_raw: bytes, name: str, encoded: bytes | None) -> bytes:
    """The property list with one property's encoded value set (or, for None, removed).

    Every other byte stays as the publisher sent it: re-encoding through pamqp would change the
    field types of headers (a 'b' becomes an 's', a 'd' an 'f'). Raises AMQPError(FRAME_ERROR) for
    a property list that does not parse (decode_content_header has already accepted it).
    """
    fields = _split_properties(properties_raw)
    if encoded is None:
        fields.pop(name, None)
    else:
        fields[name] = encoded
    flags = 0
    for prop in fields:
        flags |= Basic.Properties.flags[prop]
    # In the spec's order: a newly added property would otherwise come last.
    ordered = [fields[prop] for prop in Basic.Properties.__slots__ if prop in fields]
    return flags.to_bytes(2, "big") + b"".join(ordered)


def _split_properties(raw: bytes) -> dict[str, bytes]:
    flags, pos = _property_flags(raw)
    end = len(raw)
    fields: dict[str, bytes] = {}
    for prop in Basic.Properties.__slots__:
        if flags & Basic.Properties.flags[prop]:
            after = _skip_field(raw, pos, end, Basic.Properties.amqp_type(prop))
            if after > end:
                raise AMQPError(ReplyCode.FRAME_ERROR, "content header properties truncated")
            fields[prop] = raw[pos:after]
            pos = after
    return fields


def encode_shortstr(value: str) -> bytes:
    """A short string as the wire carries it; raises ValueError beyond 255 bytes."""
    return _shortstr(value)


def encode_properties(properties: Basic.Properties) -> bytes:
    """Property flags and list for a content header the broker builds itself."""
    return properties.marshal()
