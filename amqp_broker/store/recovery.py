# Opening a data directory: read what survived, tidy the directory, and rebuild the broker's
# durable vhosts, exchanges, queues, bindings and messages from it (before the broker listens).
#
# Rules kept here:
# - Messages come back in their queue's order (segment order, then offset order) with the
#   properties they were published with; a message that was delivered and not acked comes back
#   ready with redelivered=true.
# - A torn last record or ack entry is cut off the file (and logged), never served.
# - Whatever the definitions do not name (a queue deleted just before a crash, a segment with
#   nothing live, a half-written definitions file) is deleted.
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pamqp.commands import Basic

from amqp_broker.core.expiry import parse_expiration
from amqp_broker.core.message import Message
from amqp_broker.core.vhost import VirtualHost
from amqp_broker.errors import AMQPError
from amqp_broker.protocol.codec import decode_content_header
from amqp_broker.protocol.fieldscan import TRUSTED_LIMITS
from amqp_broker.store.definitions import VhostDefinitions, decode_definitions
from amqp_broker.store.directory import DataDirectory
from amqp_broker.store.journal import DEFAULT_SEGMENT_SIZE, QUEUES_DIR, DurableStore
from amqp_broker.store.records import decode_record, scan_acks, scan_segment
from amqp_broker.store.writer import DEFINITIONS_FILE

log = logging.getLogger("amqp_broker.store")

_CONTENT_HEADER = struct.Struct(">HHQ")


@dataclass(slots=True)
class RecoveredQueue:
    """A queue's live records, and where writing resumes. A record is (locator, whether it was
    delivered, and its segment's bytes with the payload's start and end in them)."""

    records: list[tuple[int, bool, bytes, int, int]] = field(default_factory=list)
    live: dict[int, int] = field(default_factory=dict)
    next_segment: int = 1


def _truncate(path: Path, length: int, what: str) -> None:
    log.warning("%s: dropped a torn %s at byte %d", path, what, length)
    with open(path, "r+b") as file:
        file.truncate(length)
        os.fsync(file.fileno())


def read_queue(directory: Path) -> RecoveredQueue:
    recovered = RecoveredQueue()
    segments = sorted(int(path.stem) for path in directory.glob("*.seg") if path.stem.isdigit())
    for segment in segments:
        segment_file = directory / f"{segment:08d}.seg"
        ack_file = directory / f"{segment:08d}.ack"
        data = segment_file.read_bytes()
        records, intact = scan_segment(data)
        if intact < len(data):
            _truncate(segment_file, intact, "record")
        acked: set[int] = set()
        delivered: set[int] = set()
        if ack_file.exists():
            ack_data = ack_file.read_bytes()
            acked, delivered, ack_intact = scan_acks(ack_data)
            if ack_intact < len(ack_data):
                _truncate(ack_file, ack_intact, "ack entry")
        live = [record for record in records if record[0] not in acked]
        if live:
            recovered.live[segment] = len(live)
            base = segment << 32
            recovered.records.extend(
                (base | offset, offset in delivered, data, start, end)
                for offset, start, end in live
            )
        else:
            segment_file.unlink()
            with contextlib.suppress(FileNotFoundError):
                ack_file.unlink()
    if segments:
        recovered.next_segment = segments[-1] + 1
    return recovered


def open_store(
    path: str | DataDirectory,
    *,
    fsync: bool,
    vhosts: dict[str, VirtualHost],
    add_vhost: Callable[[str], VirtualHost],
    segment_size: int = DEFAULT_SEGMENT_SIZE,
) -> DurableStore:
    """Open the data directory at `path` (or take one already open and locked, whose lock it
    keeps) and rebuild its durable state into the broker.

    Raises StoreError when the directory cannot be used (see DataDirectory.open).
    """
    directory = path if isinstance(path, DataDirectory) else DataDirectory.open(path)
    try:
        root = directory.path
        definitions_file = root / DEFINITIONS_FILE
        next_queue_id, stored = 1, list[VhostDefinitions]()
        if definitions_file.exists():
            next_queue_id, stored = decode_definitions(definitions_file.read_bytes())
        with contextlib.suppress(FileNotFoundError):
            (root / (DEFINITIONS_FILE + ".tmp")).unlink()
        queues_root = root / QUEUES_DIR
        queues_root.mkdir(exist_ok=True)
        known = {queue.queue_id for vhost in stored for queue in vhost.queues}
        for entry in queues_root.iterdir():
            if not (entry.name.isdigit() and int(entry.name) in known):
                shutil.rmtree(entry, ignore_errors=True)
            else:
                next_queue_id = max(next_queue_id, int(entry.name) + 1)
        store = DurableStore(
            directory, fsync=fsync, next_queue_id=next_queue_id, segment_size=segment_size
        )
        for definitions in stored:
            vhost = vhosts.get(definitions.name) or add_vhost(definitions.name)
            _restore_vhost(store, definitions, vhost)
        for vhost in vhosts.values():
            store.definitions_changed(vhost)  # vhosts from the configuration are durable too
        store.flush()
        return store
    except BaseException:
        directory.close()
        raise


def _restore_vhost(store: DurableStore, stored: VhostDefinitions, vhost: VirtualHost) -> None:
    for exchange in stored.exchanges:
        try:
            vhost.declare_exchange(
                exchange.name,
                exchange.type_name,
                durable=True,
                auto_delete=exchange.auto_delete,
                internal=exchange.internal,
                arguments=exchange.arguments,
            )
        except AMQPError as error:
            log.error(
                "cannot restore exchange %r in vhost %r: %s", exchange.name, vhost.name, error
            )
    # Recovered messages mostly share a few property lists and names: decode each once.
    properties_cache: dict[bytes, tuple[Basic.Properties, int | None]] = {}
    names: dict[bytes, str] = {}
    for definition in stored.queues:
        queue = vhost.declare_queue(
            definition.name,
            owner=None,
            durable=True,
            auto_delete=definition.auto_delete,
            arguments=definition.arguments,
        )
        recovered = read_queue(store.directory.path / QUEUES_DIR / str(definition.queue_id))
        for locator, delivered, data, start, end in recovered.records:
            exchange_raw, key_raw, raw, body = decode_record(data, start, end)
            decoded = properties_cache.get(raw)
            if decoded is None:
                header = _CONTENT_HEADER.pack(60, 0, len(body)) + raw
                properties = decode_content_header(header, TRUSTED_LIMITS).properties
                decoded = (properties, parse_expiration(properties.expiration))
                if len(properties_cache) < 4096:
                    properties_cache[raw] = decoded
            exchange_name = names.get(exchange_raw)
            if exchange_name is None:
                exchange_name = names[exchange_raw] = exchange_raw.decode("utf-8")
            key = names.get(key_raw)
            if key is None:
                key = names[key_raw] = key_raw.decode("utf-8")
            message = Message(exchange_name, key, raw, decoded[0], body, ttl=decoded[1])
            entry = queue.publish(message)
            entry.stored = locator
            entry.redelivered = delivered
        store.attach(queue, definition.queue_id, recovered.next_segment, recovered.live)
    for binding in stored.bindings:
        try:
            vhost.bind(
                binding.source,
                (binding.kind, binding.destination),
                binding.routing_key,
                binding.arguments,
                None,
            )
        except AMQPError as error:
            log.error(
                "cannot restore a binding of %r in vhost %r: %s", binding.source, vhost.name, error
            )
