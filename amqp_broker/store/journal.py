# The broker-side half of the durable store: synchronous calls that only buffer, so the event
# loop never waits for the disk. The writer (writer.py) makes a Batch durable in a worker thread.
#
# Rules kept here:
# - Every change gets the next operation number. A Batch carries every change up to its number;
#   once it is durable, every publish numbered at or below it may be confirmed (group commit:
#   changes made while one batch is being written and fsynced all share the next fsync).
# - A queue's messages live in numbered segment files. This side decides every offset, so a
#   record's locator (segment << 32 | offset) is known at once, without asking the disk.
# - A segment whose records are all acked and that is no longer written to is deleted, with its
#   ack log: disk use follows queue depth, and nothing ever compacts the store.
from __future__ import annotations

from dataclasses import dataclass, field

from amqp_broker.core.message import Message
from amqp_broker.core.queue import Queue
from amqp_broker.core.vhost import VirtualHost
from amqp_broker.store.definitions import DefinitionsEncoder, encode_definitions
from amqp_broker.store.directory import DataDirectory
from amqp_broker.store.records import (
    ACKED,
    DELIVERED,
    RECORD_HEADER,
    append_record,
    encode_ack,
    head_checksum,
    record_head,
)
from amqp_broker.store.writer import StoreWriter

DEFAULT_SEGMENT_SIZE = 8 * 1024 * 1024
QUEUES_DIR = "queues"


def queue_dir(queue_id: int) -> str:
    return f"{QUEUES_DIR}/{queue_id}"


def segment_path(queue_id: int, segment: int, suffix: str) -> str:
    return f"{QUEUES_DIR}/{queue_id}/{segment:08d}.{suffix}"


@dataclass(slots=True)
class Batch:
    """Changes up to operation `op`, for the writer: append `writes` (relative path -> bytes, in
    order), replace the definitions file when `definitions` is set, make it all durable, then
    delete `removals` (files or queue directories)."""

    op: int
    definitions: bytes | None = None
    writes: dict[str, bytearray] = field(default_factory=dict)
    removals: list[str] = field(default_factory=list)


class QueueJournal:
    """The store's record of one durable queue (the core Queue's MessageJournal)."""

    def __init__(
        self, store: DurableStore, queue_id: int, segment: int, live: dict[int, int]
    ) -> None:
        self.store = store
        self.queue_id = queue_id
        self.segment = segment  # the segment new records go to
        self.offset = 0
        self.live = live  # segment -> records not yet acked
        self.closed = False
        self._segment_path = segment_path(queue_id, segment, "seg")
        self._ack_paths: dict[int, str] = {}  # segment -> its ack log's path, while it lives
        # The record head (exchange, routing key, properties) of the last message appended, and
        # its checksum: a flow's messages mostly share it, and then only the body is new.
        self._head_of: tuple[str, str, bytes] | None = None
        self._head = b""
        self._head_checksum = 0

    def append(self, message: Message) -> int:
        of = (message.exchange, message.routing_key, message.properties_raw)
        if of != self._head_of:
            self._head_of = of
            self._head = record_head(*of)
            self._head_checksum = head_checksum(self._head)
        body = message.body
        size = RECORD_HEADER.size + len(self._head) + len(body)
        if self.offset and self.offset + size > self.store.segment_size:
            self._roll()
        locator = self.segment << 32 | self.offset
        append_record(
            self.store.writes_to(self._segment_path), self._head, self._head_checksum, body
        )
        self.offset += size
        self.live[self.segment] = self.live.get(self.segment, 0) + 1
        return locator

    def delivered(self, locator: int) -> None:
        if not self.closed:
            self._mark(locator, DELIVERED)

    def remove(self, locator: int) -> None:
        if self.closed:
            return
        self._mark(locator, ACKED)
        segment = locator >> 32
        left = self.live[segment] - 1
        if left or segment == self.segment:
            self.live[segment] = left
        else:
            del self.live[segment]
            self._drop(segment)

    def _mark(self, locator: int, kind: int) -> None:
        segment = locator >> 32
        path = self._ack_paths.get(segment)
        if path is None:
            path = self._ack_paths[segment] = segment_path(self.queue_id, segment, "ack")
        self.store.writes_to(path).extend(encode_ack(locator & 0xFFFFFFFF, kind))

    def _roll(self) -> None:
        full = self.segment
        self.segment += 1
        self.offset = 0
        self._segment_path = segment_path(self.queue_id, self.segment, "seg")
        if not self.live.get(full):
            self.live.pop(full, None)
            self._drop(full)

    def _drop(self, segment: int) -> None:
        self._ack_paths.pop(segment, None)
        for suffix in ("seg", "ack"):
            self.store.remove(segment_path(self.queue_id, segment, suffix))


class DurableStore:
    """Buffers durable changes for the writer; see the module comment for the rules."""

    def __init__(
        self,
        directory: DataDirectory,
        *,
        fsync: bool,
        next_queue_id: int = 1,
        segment_size: int = DEFAULT_SEGMENT_SIZE,
    ) -> None:
        self.directory = directory
        self.writer = StoreWriter(directory.path, fsync=fsync)
        self.segment_size = segment_size
        self.op = 0  # the last operation buffered
        self.failed = False  # a write failed: nothing more is written
        self.durable_op = 0  # the last operation the writer has made durable
        self._next_queue_id = next_queue_id
        self._writes: dict[str, bytearray] = {}
        self._removals: list[str] = []
        self._dirty: dict[str, VirtualHost | None] = {}  # vhost name -> vhost (None: deleted)
        self._encoded: dict[str, bytes] = {}  # vhost name -> its definitions as last encoded
        self._encoder = DefinitionsEncoder()

    @property
    def has_work(self) -> bool:
        return bool(self._writes or self._removals or self._dirty)

    # ---- changes (called by the broker; they only buffer) -----------------------------------

    def append(self, path: str, data: bytes) -> None:
        self.writes_to(path).extend(data)

    def writes_to(self, path: str) -> bytearray:
        """The bytes the next batch appends to `path`, for the caller to append one change to
        (it counts as an operation)."""
        pending = self._writes.get(path)
        if pending is None:
            pending = self._writes[path] = bytearray()
        self.op += 1
        return pending

    def remove(self, path: str) -> None:
        self._writes.pop(path, None)
        self._removals.append(path)
        self.op += 1

    def attach(
        self,
        queue: Queue,
        queue_id: int | None = None,
        segment: int = 1,
        live: dict[int, int] | None = None,
    ) -> QueueJournal:
        """Give a durable queue its journal (a new id unless recovering an existing queue)."""
        if queue_id is None:
            queue_id = self._next_queue_id
        self._next_queue_id = max(self._next_queue_id, queue_id + 1)
        journal = QueueJournal(self, queue_id, segment, live or {})
        queue.journal = journal
        return journal

    def definitions_changed(self, vhost: VirtualHost) -> None:
        self._dirty[vhost.name] = vhost
        self.op += 1

    def queue_deleted(self, queue: Queue) -> None:
        journal = queue.journal
        if not isinstance(journal, QueueJournal):
            return
        queue.journal = None
        journal.closed = True
        prefix = queue_dir(journal.queue_id) + "/"
        for path in [path for path in self._writes if path.startswith(prefix)]:
            del self._writes[path]
        self.remove(queue_dir(journal.queue_id))

    def vhost_deleted(self, vhost: VirtualHost) -> None:
        for queue in vhost.queues.values():
            self.queue_deleted(queue)
        self._dirty[vhost.name] = None
        self.op += 1

    # ---- the writer's side --------------------------------------------------------------------

    def take_batch(self) -> Batch | None:
        """Everything buffered since the last batch, or None when there is nothing to write."""
        if not self.has_work:
            return None
        batch = Batch(self.op, writes=self._writes, removals=self._removals)
        if self._dirty:
            for name, vhost in self._dirty.items():
                if vhost is None:
                    self._encoded.pop(name, None)
                    self._encoder.forget(name)
                else:
                    self._encoded[name] = self._encoder.encode_vhost(vhost, _queue_ids(vhost))
            batch.definitions = encode_definitions(self._next_queue_id, self._encoded.values())
        self._writes, self._removals, self._dirty = {}, [], {}
        return batch

    def flush(self) -> None:
        """Write everything buffered now, blocking (startup and shutdown only)."""
        batch = self.take_batch()
        if batch is not None and not self.failed:
            self.writer.write(batch)
            self.durable_op = batch.op

    def close(self) -> None:
        self.writer.close()
        self.directory.close()


def _queue_ids(vhost: VirtualHost) -> dict[str, int]:
    return {
        queue.name: queue.journal.queue_id
        for queue in vhost.queues.values()
        if isinstance(queue.journal, QueueJournal)
    }
