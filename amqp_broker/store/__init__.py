# The durable store: definitions and persistent messages on disk (docs/durability.md).
#
# journal.py buffers changes synchronously for the broker; writer.py makes them durable in a
# worker thread; recovery.py rebuilds the broker's state from disk at startup; records.py and
# definitions.py are the byte formats; directory.py owns the lock and the format stamp.
from __future__ import annotations

from amqp_broker.store.directory import StoreError
from amqp_broker.store.journal import Batch, DurableStore, QueueJournal
from amqp_broker.store.recovery import open_store

__all__ = ["Batch", "DurableStore", "QueueJournal", "StoreError", "open_store"]
