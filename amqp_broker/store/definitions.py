# Durable definitions (exchanges, queues, bindings per vhost) to bytes and back.
#
# The file is rewritten whole whenever a vhost's definitions change (at most once per store batch,
# and only the changed vhosts are re-encoded), then renamed into place: it is never torn. Values
# are AMQP field tables (pamqp's codec), so any argument a client could send round-trips.
#
# What is durable, as in RabbitMQ: durable exchanges other than the predeclared ones; durable
# queues that are not exclusive; bindings whose source and destination are both durable.
from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pamqp import decode, encode

from amqp_broker.core.queue import Queue
from amqp_broker.core.vhost import EXCHANGE, PREDECLARED, QUEUE, VirtualHost
from amqp_broker.store.directory import StoreError

_MAGIC = b"AMQPDEFS"
_HEADER = struct.Struct("<8sII")  # magic, payload length, CRC-32 of the payload
_LENGTH = struct.Struct("<I")
# Record kinds in a vhost's definitions: its name first, then exchanges, queues, bindings.
_VHOST, _EXCHANGE, _QUEUE, _BINDING = b"V", b"E", b"Q", b"B"
_BUILT_IN = {*PREDECLARED, "amq.rabbitmq.trace"}


@dataclass(frozen=True, slots=True)
class ExchangeDefinition:
    name: str
    type_name: str
    auto_delete: bool
    internal: bool
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class QueueDefinition:
    name: str
    queue_id: int
    auto_delete: bool
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BindingDefinition:
    source: str
    kind: str  # QUEUE or EXCHANGE
    destination: str
    routing_key: str
    arguments: dict[str, Any]


@dataclass(slots=True)
class VhostDefinitions:
    name: str
    exchanges: list[ExchangeDefinition] = field(default_factory=list)
    queues: list[QueueDefinition] = field(default_factory=list)
    bindings: list[BindingDefinition] = field(default_factory=list)


def is_durable_queue(queue: Queue) -> bool:
    return queue.durable and not queue.exclusive


def _table_safe(value: Any) -> Any:
    """pamqp decodes a non-UTF-8 long string as bytes but cannot encode bytes: store them as a
    byte array instead."""
    if isinstance(value, bytes):
        return bytearray(value)
    if isinstance(value, dict):
        return {key: _table_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_table_safe(item) for item in value]
    return value


class DefinitionsEncoder:
    """Encodes vhosts' durable definitions, one record per exchange, queue and binding.

    Declared entities never change, so each record is encoded once and reused while the entity
    exists: re-encoding a vhost after one more declare costs a lookup per entity, not a pamqp
    encoding of everything (which made declaring n queues cost O(n^2) encodings).
    """

    def __init__(self) -> None:
        self._records: dict[str, dict[object, bytes]] = {}  # per vhost: entity -> record

    def forget(self, vhost_name: str) -> None:
        self._records.pop(vhost_name, None)

    def encode_vhost(self, vhost: VirtualHost, queue_ids: dict[str, int]) -> bytes:
        """The durable definitions of one vhost; queue_ids maps durable queue names to ids."""
        previous = self._records.get(vhost.name, {})
        current: dict[object, bytes] = {}
        self._records[vhost.name] = current

        def record(key: object, kind: bytes, build: Any) -> bytes:
            encoded = previous.get(key)
            if encoded is None:
                table = bytes(encode.field_table(_table_safe(build())))
                encoded = kind + _LENGTH.pack(len(table)) + table
            current[key] = encoded
            return encoded

        durable_exchanges = {
            name for name, exchange in vhost.exchanges.items() if exchange.durable and name
        }
        parts = [_VHOST + _record_bytes({"name": vhost.name})]
        for exchange in vhost.exchanges.values():
            if exchange.name in durable_exchanges and exchange.name not in _BUILT_IN:
                parts.append(
                    record(
                        exchange,
                        _EXCHANGE,
                        lambda e=exchange: {
                            "name": e.name,
                            "type": e.type_name,
                            "auto_delete": e.auto_delete,
                            "internal": e.internal,
                            "arguments": e.arguments,
                        },
                    )
                )
        for queue in vhost.queues.values():
            queue_id = queue_ids.get(queue.name)
            if queue_id is not None:
                parts.append(
                    record(
                        queue,
                        _QUEUE,
                        lambda q=queue, i=queue_id: {
                            "name": q.name,
                            "id": i,
                            "auto_delete": q.auto_delete,
                            "arguments": q.arguments,
                        },
                    )
                )
        for source in vhost.exchanges.values():
            if source.name not in durable_exchanges:
                continue
            for binding in source.table.bindings():
                kind, destination = binding.destination
                durable = destination in (queue_ids if kind == QUEUE else durable_exchanges)
                if durable:
                    parts.append(
                        record(
                            (source, binding),
                            _BINDING,
                            lambda s=source, b=binding: {
                                "source": s.name,
                                "kind": b.destination[0],
                                "destination": b.destination[1],
                                "routing_key": b.routing_key,
                                "arguments": b.arguments_dict(),
                            },
                        )
                    )
        return b"".join(parts)


def _record_bytes(table: dict[str, Any]) -> bytes:
    encoded = bytes(encode.field_table(_table_safe(table)))
    return _LENGTH.pack(len(encoded)) + encoded


def encode_definitions(next_queue_id: int, vhosts: Iterable[bytes]) -> bytes:
    payload = b"".join(
        [_LENGTH.pack(next_queue_id), *(_LENGTH.pack(len(blob)) + blob for blob in vhosts)]
    )
    return _HEADER.pack(_MAGIC, len(payload), zlib.crc32(payload)) + payload


def decode_definitions(data: bytes) -> tuple[int, list[VhostDefinitions]]:
    """(next queue id, vhosts). Raises StoreError when the file is not intact."""
    if len(data) < _HEADER.size:
        raise StoreError("the definitions file is truncated")
    magic, length, checksum = _HEADER.unpack_from(data)
    payload = data[_HEADER.size : _HEADER.size + length]
    if magic != _MAGIC or len(payload) != length or zlib.crc32(payload) != checksum:
        raise StoreError("the definitions file is corrupt")
    # The checksum held, so the bytes are as written; a layout this version cannot read means
    # another version wrote them. That is the user's one-line error, not a traceback.
    try:
        (next_queue_id,) = _LENGTH.unpack_from(payload)
        position = _LENGTH.size
        vhosts = []
        while position < len(payload):
            (size,) = _LENGTH.unpack_from(payload, position)
            position += _LENGTH.size
            vhosts.append(_decode_vhost(payload[position : position + size]))
            position += size
    except (struct.error, ValueError, KeyError, TypeError) as exc:
        raise StoreError(
            f"the definitions file cannot be read (written by another version?): {exc}"
        ) from exc
    return next_queue_id, vhosts


def _decode_vhost(blob: bytes) -> VhostDefinitions:
    vhost: VhostDefinitions | None = None
    position = 0
    while position < len(blob):
        kind = blob[position : position + 1]
        (size,) = _LENGTH.unpack_from(blob, position + 1)
        start = position + 1 + _LENGTH.size
        item = decode.field_table(blob[start : start + size])[1]
        position = start + size
        if kind == _VHOST:
            vhost = VhostDefinitions(str(item["name"]))
            continue
        if vhost is None:
            raise StoreError("the definitions file is corrupt (a record before its vhost)")
        table: Any = item
        if kind == _EXCHANGE:
            vhost.exchanges.append(
                ExchangeDefinition(
                    table["name"],
                    table["type"],
                    table["auto_delete"],
                    table["internal"],
                    dict(table["arguments"]),
                )
            )
        elif kind == _QUEUE:
            vhost.queues.append(
                QueueDefinition(
                    table["name"], table["id"], table["auto_delete"], dict(table["arguments"])
                )
            )
        elif kind == _BINDING:
            vhost.bindings.append(
                BindingDefinition(
                    table["source"],
                    QUEUE if table["kind"] == QUEUE else EXCHANGE,
                    table["destination"],
                    table["routing_key"],
                    dict(table["arguments"]),
                )
            )
    if vhost is None:
        raise StoreError("the definitions file is corrupt (a vhost without its name)")
    return vhost
