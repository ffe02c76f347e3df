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
from dataclasses import dataclass

RECORD_HEADER = struct.Struct("<II")
_LENGTHS = struct.Struct("<BB")
_PROPERTIES_LENGTH = struct.Struct("<I")
ACK_ENTRY = struct.Struct("<IBI")
_ACK_BODY = struct.Struct("<IB")
ACKED = 1
DELIVERED = 2
_SEED = 0x414D5150  # "AMQP"
_MIN_PAYLOAD = _LENGTHS.size + _PROPERTIES_LENGTH.size


@dataclass(frozen=True, slots=True)
class StoredMessage:
    exchange: str
    routing_key: str
    properties_raw: bytes
    body: bytes


def encode_record(exchange: str, routing_key: str, properties_raw: bytes, body: bytes) -> bytes:
    """One segment record. Exchange names and routing keys are AMQP short strings (<= 255 bytes)."""
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


def decode_payload(payload: bytes) -> StoredMessage:
    """Raises ValueError for a payload whose lengths do not add up (a bug or a corrupt store)."""
    exchange_length, key_length = _LENGTHS.unpack_from(payload)
    position = _LENGTHS.size
    exchange = payload[position : position + exchange_length].decode("utf-8")
    position += exchange_length
    routing_key = payload[position : position + key_length].decode("utf-8")
    position += key_length
    if position + _PROPERTIES_LENGTH.size > len(payload):
        raise ValueError("record payload truncated")
    (properties_length,) = _PROPERTIES_LENGTH.unpack_from(payload, position)
    position += _PROPERTIES_LENGTH.size
    if position + properties_length > len(payload):
        raise ValueError("record payload truncated")
    properties_raw = payload[position : position + properties_length]
    body = payload[position + properties_length :]
    return StoredMessage(exchange, routing_key, properties_raw, body)


def scan_segment(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """The intact records of a segment as (offset, payload), and the length they cover.

    Everything after the first incomplete or corrupt record is the torn tail.
    """
    records: list[tuple[int, bytes]] = []
    position = 0
    end = len(data)
    view = memoryview(data)
    header = RECORD_HEADER.size
    while position + header <= end:
        length, checksum = RECORD_HEADER.unpack_from(data, position)
        start = position + header
        if length < _MIN_PAYLOAD or start + length > end:
            break
        payload = bytes(view[start : start + length])
        if zlib.crc32(payload, _SEED) != checksum:
            break
        records.append((position, payload))
        position = start + length
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
