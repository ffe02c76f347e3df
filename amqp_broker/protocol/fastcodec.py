# The hot path's codec: basic.publish and the plain content header in, basic.deliver out, without
# pamqp's per-field generic machinery (about 25-35 us per message each way on this machine).
#
# Rules kept here:
# - Byte-for-byte and value-for-value the same as pamqp and the generic decoders in codec.py
#   (tests/property/protocol/test_fastcodec_property.py proves it). Anything unusual is not
#   handled here: the decoders return None and the caller takes the generic path, which also
#   produces the error, so malformed input is reported exactly as before.
# - The publisher's property bytes are never re-encoded: they go out as they came in.
from __future__ import annotations

import struct

from pamqp.commands import Basic

PUBLISH_INDEX = 0x003C0028
FRAME_END = b"\xce"
_OVERHEAD = 8

_DELIVER_HEAD = struct.Struct(">BHIIB")  # method frame header, class/method, consumer tag length
_DELIVER_TAG = struct.Struct(">QBB")  # delivery tag, redelivered, exchange length
_CONTENT_HEAD = struct.Struct(">BHIHHQ")  # header frame header, class, weight, body size
_FRAME_HEAD = struct.Struct(">BHI")
_INDEX = struct.Struct(">I")
_HEADER_FIELDS = struct.Struct(">HHQ")  # a content header's class, weight and body size
_DELIVER_INDEX = 0x003C003C

_new = object.__new__
_Publish = Basic.Publish
_Properties = Basic.Properties

# Properties in wire order with their flag and whether they are an octet (else a shortstr).
# headers (a table) and timestamp are left to pamqp: the fast path declines when they are present.
_LAYOUT = tuple(
    (name, Basic.Properties.flags[name], Basic.Properties.amqp_type(name) == "octet")
    for name in Basic.Properties.__slots__
    if name not in ("headers", "timestamp")
)
# flags -> the (name, is_octet) fields present; at most 2**12 combinations
_fields_for: dict[int, tuple[tuple[str, bool], ...]] = {}
_DECLINED_FLAGS = (
    Basic.Properties.flags["headers"] | Basic.Properties.flags["timestamp"] | 0x0003
)  # 0x0001 continues the flags in another word; 0x0002 is no property


def decode_publish(payload: bytes) -> Basic.Publish | None:
    """A basic.publish method payload (class and method id included), or None if it is not
    exactly a well-formed one."""
    return _publish_at(payload, 0, len(payload))


def _publish_at(data: bytes | bytearray, first: int, stop: int) -> Basic.Publish | None:
    """decode_publish of data[first:stop], read in place."""
    try:
        ticket = (data[first + 4] << 8) | data[first + 5]
        end = first + 7 + data[first + 6]
        exchange = data[first + 7 : end].decode()
        start = end + 1
        end = start + data[end]
        routing_key = data[start:end].decode()
        bits = data[end]
    except (IndexError, UnicodeDecodeError):
        return None
    if end + 1 != stop:
        return None
    method: Basic.Publish = _new(_Publish)
    method.ticket = ticket
    method.exchange = exchange
    method.routing_key = routing_key
    method.mandatory = bool(bits & 1)
    method.immediate = bool(bits & 2)
    return method


# What scan_publish read: (where the next frame starts, channel, method, body size, property
# bytes, body). A plain tuple: one is built per publish.
ScannedPublish = tuple[int, int, Basic.Publish, int, bytes, bytes]


def scan_publish(data: bytearray, pos: int, frame_max: int) -> ScannedPublish | None:
    """basic.publish, its content header and its one body frame (none for an empty body), all
    well-formed, on one channel and already in `data` from `pos`; None for anything else, left
    to the frame-by-frame path (which also reports what is wrong). Reading nothing more than
    that path would, in one go, saves it three frame records, three steps and an assembly."""
    available = len(data)
    if available - pos < 22:  # the smallest publish method frame and a header frame's head
        return None
    frame_type, channel, size = _FRAME_HEAD.unpack_from(data, pos)
    method_end = pos + 7 + size
    if (
        frame_type != 1
        or size > frame_max
        or available < method_end + 8
        or data[method_end] != 0xCE
        or _INDEX.unpack_from(data, pos + 7)[0] != PUBLISH_INDEX
    ):
        return None
    head = method_end + 1
    frame_type, header_channel, size = _FRAME_HEAD.unpack_from(data, head)
    header_end = head + 7 + size
    if (
        frame_type != 2
        or header_channel != channel
        or size < 14
        or size > frame_max
        or available <= header_end
        or data[header_end] != 0xCE
    ):
        return None
    class_id, _weight, body_size = _HEADER_FIELDS.unpack_from(data, head + 7)
    if class_id != 60:
        return None
    end = header_end + 1
    body = b""
    if body_size:
        if available < end + 8:
            return None
        frame_type, body_channel, size = _FRAME_HEAD.unpack_from(data, end)
        body_end = end + 7 + size
        if (
            frame_type != 3
            or body_channel != channel
            or size != body_size
            or size > frame_max
            or available <= body_end
            or data[body_end] != 0xCE
        ):
            return None
        body = bytes(data[end + 7 : body_end])
        end = body_end + 1
    method = _publish_at(data, pos + 7, method_end)
    if method is None:
        return None
    properties_raw = bytes(data[head + 19 : header_end])
    return end, channel, method, body_size, properties_raw, body


def decode_properties(raw: bytes) -> Basic.Properties | None:
    """A property list without headers or timestamp, or None for anything else."""
    if len(raw) < 2:
        return None
    flags = (raw[0] << 8) | raw[1]
    if flags & _DECLINED_FLAGS:
        return None
    properties: Basic.Properties = _new(_Properties)
    properties.content_type = properties.content_encoding = properties.headers = None
    properties.delivery_mode = properties.priority = properties.correlation_id = None
    properties.reply_to = properties.expiration = properties.message_id = None
    properties.timestamp = properties.message_type = properties.user_id = None
    properties.app_id = None
    properties.cluster_id = ""
    if not flags:
        return properties if len(raw) == 2 else None
    fields = _fields_for.get(flags)
    if fields is None:
        fields = _fields_for[flags] = tuple((n, o) for n, f, o in _LAYOUT if flags & f)
    pos = 2
    try:
        for name, is_octet in fields:
            if is_octet:
                setattr(properties, name, raw[pos])
                pos += 1
            else:
                end = pos + 1 + raw[pos]
                if end > len(raw):
                    return None
                setattr(properties, name, raw[pos + 1 : end].decode())
                pos = end
    except (IndexError, UnicodeDecodeError):
        return None
    if pos != len(raw):
        return None
    return properties


def encode_delivery(
    channel: int,
    *,
    consumer_tag: str,
    delivery_tag: int,
    redelivered: bool,
    exchange: str,
    routing_key: str,
    properties_raw: bytes,
    body: bytes,
    frame_max: int,
) -> bytes | None:
    """basic.deliver, its content header and body frames (split at frame_max) as one bytes
    object; None if a name is longer than a short string allows (the caller's generic encoder
    then raises as it always did)."""
    tag = consumer_tag.encode()
    exchange_raw = exchange.encode()
    key = routing_key.encode()
    if len(tag) > 255 or len(exchange_raw) > 255 or len(key) > 255:
        return None
    size = 4 + 1 + len(tag) + 8 + 1 + 1 + len(exchange_raw) + 1 + len(key)
    body_size = len(body)
    parts = [
        _DELIVER_HEAD.pack(1, channel, size, _DELIVER_INDEX, len(tag)),
        tag,
        _DELIVER_TAG.pack(delivery_tag, 1 if redelivered else 0, len(exchange_raw)),
        exchange_raw,
        bytes((len(key),)),
        key,
        FRAME_END,
        _CONTENT_HEAD.pack(2, channel, 12 + len(properties_raw), 60, 0, body_size),
        properties_raw,
        FRAME_END,
    ]
    chunk = frame_max - _OVERHEAD
    if body_size <= chunk:
        if body_size:
            parts += (_FRAME_HEAD.pack(3, channel, body_size), body, FRAME_END)
    else:
        for start in range(0, body_size, chunk):
            piece = body[start : start + chunk]
            parts += (_FRAME_HEAD.pack(3, channel, len(piece)), piece, FRAME_END)
    return b"".join(parts)
