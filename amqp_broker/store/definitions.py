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


def encode_vhost(vhost: VirtualHost, queue_ids: dict[str, int]) -> bytes:
    """The durable definitions of one vhost; queue_ids maps durable queue names to store ids."""
    durable_exchanges = {
        name for name, exchange in vhost.exchanges.items() if exchange.durable and name
    }
    exchanges = [
        {
            "name": exchange.name,
            "type": exchange.type_name,
            "auto_delete": exchange.auto_delete,
            "internal": exchange.internal,
            "arguments": exchange.arguments,
        }
        for exchange in vhost.exchanges.values()
        if exchange.name in durable_exchanges
        and exchange.name not in PREDECLARED
        and exchange.name != "amq.rabbitmq.trace"
    ]
    queues = [
        {
            "name": queue.name,
            "id": queue_ids[queue.name],
            "auto_delete": queue.auto_delete,
            "arguments": queue.arguments,
        }
        for queue in vhost.queues.values()
        if queue.name in queue_ids
    ]
    bindings = []
    for source in vhost.exchanges.values():
        if source.name not in durable_exchanges:
            continue
        for binding in source.table.bindings():
            kind, destination = binding.destination
            durable = (
                destination in queue_ids if kind == QUEUE else destination in durable_exchanges
            )
            if durable:
                bindings.append(
                    {
                        "source": source.name,
                        "kind": kind,
                        "destination": destination,
                        "routing_key": binding.routing_key,
                        "arguments": binding.arguments_dict(),
                    }
                )
    table = {"name": vhost.name, "exchanges": exchanges, "queues": queues, "bindings": bindings}
    return bytes(encode.field_table(_table_safe(table)))


def encode_definitions(next_queue_id: int, vhosts: Iterable[bytes]) -> bytes:
    payload = bytes(
        encode.field_table(
            {"next_queue_id": next_queue_id, "vhosts": [bytearray(item) for item in vhosts]}
        )
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
    top = _decode_table(payload)
    vhosts = []
    for blob in top["vhosts"]:
        table = _decode_table(bytes(blob))
        vhost = VhostDefinitions(str(table["name"]))
        vhost.exchanges = [
            ExchangeDefinition(
                item["name"],
                item["type"],
                item["auto_delete"],
                item["internal"],
                dict(item["arguments"]),
            )
            for item in table["exchanges"]
        ]
        vhost.queues = [
            QueueDefinition(item["name"], item["id"], item["auto_delete"], dict(item["arguments"]))
            for item in table["queues"]
        ]
        vhost.bindings = [
            BindingDefinition(
                item["source"],
                QUEUE if item["kind"] == QUEUE else EXCHANGE,
                item["destination"],
                item["routing_key"],
                dict(item["arguments"]),
            )
            for item in table["bindings"]
        ]
        vhosts.append(vhost)
    return int(top["next_queue_id"]), vhosts


def _decode_table(data: bytes) -> Any:
    """A decoded field table; its shape is this module's own, so it is read without checks."""
    return decode.field_table(data)[1]
