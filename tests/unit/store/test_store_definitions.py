# Durable definitions round-trip through the definitions file; transient ones are left out.
from __future__ import annotations

import datetime
import decimal
import zlib

import pytest

from amqp_broker.core.vhost import EXCHANGE, QUEUE, VirtualHost
from amqp_broker.store.definitions import (
    _HEADER,
    _MAGIC,
    BindingDefinition,
    DefinitionsEncoder,
    ExchangeDefinition,
    QueueDefinition,
    decode_definitions,
    encode_definitions,
)
from amqp_broker.store.directory import StoreError

ARGUMENTS = {
    "x-match": "any",
    "n": 2**40,
    "flag": True,
    "ratio": 0.5,
    "price": decimal.Decimal("1.25"),
    "when": datetime.datetime(2026, 11, 27, 8, 0, tzinfo=datetime.UTC),
    "list": [1, "two", {"three": None}],
    "raw": bytearray(b"\xff\x00"),
}


def sample_vhost() -> tuple[VirtualHost, dict[str, int]]:
    vhost = VirtualHost("prod/eu")
    vhost.declare_exchange(
        "events", "headers", durable=True, arguments={"alternate-exchange": "ae"}
    )
    vhost.declare_exchange("ae", "fanout", durable=True, auto_delete=True, internal=True)
    vhost.declare_exchange("scratch", "topic", durable=False)
    vhost.declare_queue("orders", owner=None, durable=True, arguments={"x-max-priority": 3})
    vhost.declare_queue("cache", owner=None, durable=False)
    vhost.bind("events", (QUEUE, "orders"), "", ARGUMENTS, None)
    vhost.bind("events", (EXCHANGE, "ae"), "k", None, None)
    vhost.bind("events", (QUEUE, "cache"), "", None, None)  # to a transient queue: not durable
    vhost.bind("scratch", (QUEUE, "orders"), "#", None, None)  # from a transient exchange
    vhost.bind("amq.topic", (QUEUE, "orders"), "a.*", None, None)
    return vhost, {"orders": 7}


def test_durable_definitions_round_trip() -> None:
    vhost, queue_ids = sample_vhost()
    blob = DefinitionsEncoder().encode_vhost(vhost, queue_ids)
    next_id, (stored,) = decode_definitions(encode_definitions(8, [blob]))
    assert next_id == 8
    assert stored.name == "prod/eu"
    assert stored.exchanges == [
        ExchangeDefinition("events", "headers", False, False, {"alternate-exchange": "ae"}),
        ExchangeDefinition("ae", "fanout", True, True, {}),
    ]
    assert stored.queues == [QueueDefinition("orders", 7, False, {"x-max-priority": 3})]
    assert sorted(stored.bindings, key=repr) == sorted(
        [
            BindingDefinition("events", QUEUE, "orders", "", ARGUMENTS),
            BindingDefinition("events", EXCHANGE, "ae", "k", {}),
            BindingDefinition("amq.topic", QUEUE, "orders", "a.*", {}),
        ],
        key=repr,
    )


def test_reencoding_after_a_change_reflects_only_what_exists() -> None:
    vhost, queue_ids = sample_vhost()
    encoder = DefinitionsEncoder()
    encoder.encode_vhost(vhost, queue_ids)
    vhost.delete_queue(vhost.queues["orders"])
    vhost.declare_queue("invoices", owner=None, durable=True)
    blob = encoder.encode_vhost(vhost, {"invoices": 9})
    _, (stored,) = decode_definitions(encode_definitions(10, [blob]))
    assert [queue.name for queue in stored.queues] == ["invoices"]
    assert [binding.destination for binding in stored.bindings] == ["ae"]


def test_a_damaged_definitions_file_is_refused() -> None:
    vhost, queue_ids = sample_vhost()
    data = bytearray(encode_definitions(8, [DefinitionsEncoder().encode_vhost(vhost, queue_ids)]))
    data[-3] ^= 0x40
    with pytest.raises(StoreError, match="definitions file is corrupt"):
        decode_definitions(bytes(data))


@pytest.mark.parametrize(
    "payload",
    [
        b"\x01\x00",  # shorter than the queue-id counter
        b"\x08\x00\x00\x00\x05\x00\x00\x00V\xff\xff\xff\xff",  # a table longer than its vhost
        b"\x08\x00\x00\x00\x09\x00\x00\x00V\x04\x00\x00\x00\x00\x00\x00\x00",  # no name
    ],
)
def test_an_intact_file_in_a_layout_we_cannot_read_is_a_store_error(payload: bytes) -> None:
    """Checksummed correctly but not this version's layout (a file from another version)."""
    data = _HEADER.pack(_MAGIC, len(payload), zlib.crc32(payload)) + payload
    with pytest.raises(StoreError, match="definitions file"):
        decode_definitions(data)
