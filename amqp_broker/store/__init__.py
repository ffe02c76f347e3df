# The durable store: definitions and persistent messages on disk (docs/durability.md).
#
# journal.py buffers changes synchronously for the broker; writer.py makes them durable in a
# worker thread; recovery.py rebuilds the broker's state from disk at startup; records.py and
# definitions.py are the byte formats; directory.py owns the lock and the format stamp.
#
# Only directory.py is imported with the package: `amqp-broker` locks and checks its data
# directory before it loads the rest of the broker (cold start); the other names load on use.
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'amqp_broker.store' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups find it without coming here
    return value
