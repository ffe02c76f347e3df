# The durable store: definitions and persistent messages on disk (docs/durability.md).
#
# journal.py buffers changes synchronously for the broker; writer.py makes them durable in a
# worker thread; recovery.py rebuilds the broker's state from disk at startup; records.py and
# definitions.py are the byte formats; directory.py owns the lock and the format stamp.
#
# Only directory.py is imported with the package: `amqp-broker` locks and checks its data
# directory before it loads the rest of the broker (cold start); the other names load on use.
from __future__ import annotations

from typing import TYPE_CHECKING

from amqp_broker.lazy_names import lazy_getattr
from amqp_broker.store.directory import StoreError

if TYPE_CHECKING:
    from amqp_broker.store.journal import Batch, DurableStore, QueueJournal
    from amqp_broker.store.recovery import open_store

__all__ = ["Batch", "DurableStore", "QueueJournal", "StoreError", "open_store"]

_HOMES = {
    "Batch": "amqp_broker.store.journal",
    "DurableStore": "amqp_broker.store.journal",
    "QueueJournal": "amqp_broker.store.journal",
    "open_store": "amqp_broker.store.recovery",
}


__getattr__ = lazy_getattr(__name__, _HOMES)
