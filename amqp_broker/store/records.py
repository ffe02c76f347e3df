# The byte formats of a queue's message segments and their ack logs (pure; no I/O).
#
# A segment is a sequence of records: u32 payload length, u32 checksum, payload. The checksum is a
# CRC-32 seeded with a constant, so a zero-filled tail (what a power cut can leave) never passes.
# Recovery reads records until the first one that is incomplete or fails its checksum: that is the
# torn last write, and it is dropped, never served.
#
# An ack log holds fixed-size entries: u32 record offset, u8 kind (acked or delivered), u32 CRC
# of those five bytes. A record is live while no "acked" entry names it; "delivered" marks a
# record whose message a client has seen, so it comes back with redelivered=true.
from __future__ import annotations

import struct
import zlib

RECORD_HEADER = struct.Struct("<II")
_LENGTHS = struct.Struct("<BB")
_PROPERTIES_LENGTH = struct.Struct("<I")
ACK_ENTRY = struct.Struct("<IBI")
_ACK_BODY = struct.Struct("<IB")
ACKED = 1
DELIVERED = 2
_SEED = 0x414D5150  # "AMQP"
_MIN_PAYLOAD = _LENGTHS.size + _PROPERTIES_LENGTH.size


def encode_record(exchange: str, routing_key: str, properties_raw: bytes, body: bytes) -> bytes:
    """One segment record. Exchange names and routing keys are AMQP short strings (<= 255 bytes).

    The format's plain statement; the journal writes records with record_head and append_record
    instead, which a property test proves byte-for-byte equal to this."""
    exchange_bytes = exchange.encode("utf-8")
    key_bytes = routing_key.encode("utf-8")
    payload = b"".join(
        (
            _LENGTHS.pack(len(exchange_bytes), len(key_bytes)),
            exchange_bytes,
            key_bytes,
            _PROPERTIES_LENGTH.pack(len(properties_raw)),
            properties_raw,
            body,
        )
    )
    return RECORD_HEADER.pack(len(payload), zlib.crc32(payload, _SEED)) + payload


def record_head(exchange: str, routing_key: str, properties_raw: bytes) -> bytes:
    """A record's payload up to its body: the same for every message of a flow, so a journal
    encodes it once and checksums it once (record_checksum continues from head_checksum)."""
    exchange_bytes = exchange.encode("utf-8")
    key_bytes = routing_key.encode("utf-8")
    return b"".join(
        (
            _LENGTHS.pack(len(exchange_bytes), len(key_bytes)),
            exchange_bytes,
            key_bytes,
            _PROPERTIES_LENGTH.pack(len(properties_raw)),
            properties_raw,
        )
    )


def head_checksum(head: bytes) -> int:
    return zlib.crc32(head, _SEED)


def append_record(buffer: bytearray, head: bytes, checksum: int, body: bytes) -> int:
    """Append the record encode_record would make to `buffer`, copying the body once (no
    payload is assembled first); `checksum` is head_checksum(head). Returns its length."""
    length = len(head) + len(body)
    buffer += RECORD_HEADER.pack(length, zlib.crc32(body, checksum))
    buffer += head
    buffer += body
    return RECORD_HEADER.size + length


def decode_record(data: bytes, start: int, end: int) -> tuple[bytes, bytes, bytes, bytes]:
    """(exchange, routing key, properties, body) of the payload at data[start:end], as bytes
    (recovery decodes the names once per distinct value). Raises ValueError when the lengths
    inside do not add up, which the checksum makes a bug rather than a torn write."""
    exchange_length, key_length = _LENGTHS.unpack_from(data, start)
    position = start + _LENGTHS.size
    exchange = data[position : position + exchange_length]
    position += exchange_length
    routing_key = data[position : position + key_length]
    position += key_length
    if position + _PROPERTIES_LENGTH.size > end:
        raise ValueError("record payload truncated")
    (properties_length,) = _PROPERTIES_LENGTH.unpack_from(data, position)
    position += _PROPERTIES_LENGTH.size
    if position + properties_length > end:
        raise ValueError("record payload truncated")
    properties = data[position : position + properties_length]
    return exchange, routing_key, properties, data[position + properties_length : end]


def scan_segment(data: bytes) -> tuple[list[tuple[int, int, int]], int]:
    """The intact records of a segment as (offset, payload start, payload end), and the length
    they cover. Everything after the first incomplete or corrupt record is the torn tail."""
    records: list[tuple[int, int, int]] = []
    position = 0
    end = len(data)
    view = memoryview(data)
    header = RECORD_HEADER.size
    unpack = RECORD_HEADER.unpack_from
    crc32 = zlib.crc32
    while position + header <= end:
        length, checksum = unpack(data, position)
        start = position + header
        stop = start + length
        if length < _MIN_PAYLOAD or stop > end or crc32(view[start:stop], _SEED) != checksum:
            break
        records.append((position, start, stop))
        position = stop
    return records, position


def encode_ack(offset: int, kind: int) -> bytes:
    body = _ACK_BODY.pack(offset, kind)
    return body + struct.pack("<I", zlib.crc32(body, _SEED))


def scan_acks(data: bytes) -> tuple[set[int], set[int], int]:
    """(acked offsets, delivered offsets, length of the intact prefix) of an ack log."""
    acked: set[int] = set()
    delivered: set[int] = set()
    size = ACK_ENTRY.size
    position = 0
    while position + size <= len(data):
        offset, kind, checksum = ACK_ENTRY.unpack_from(data, position)
        if zlib.crc32(data[position : position + _ACK_BODY.size], _SEED) != checksum:
            break
        if kind == ACKED:
            acked.add(offset)
        elif kind == DELIVERED:
            delivered.add(offset)
        else:
            break
        position += size
    return acked, delivered, position
