# The direct exchange type: a message goes to destinations bound with exactly its routing key.
#
# Rules kept here:
# - Matching is byte-for-byte string equality; "" is an ordinary key.
# - Arguments are part of a binding's identity but play no part in routing, so one destination
#   may hold several bindings with the same key; the index counts them and routing stays a
#   single dict lookup.
from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Generic

from exchanges.base import Arguments, Binding, D
from exchanges.ledger import BindingLedger


class DirectExchange(Generic[D]):
    """Routing table of a direct exchange."""

    type_name: ClassVar[str] = "direct"

    def __init__(self) -> None:
        self._ledger: BindingLedger[D] = BindingLedger()
        self._index: dict[str, dict[D, int]] = {}

    def bind(self, destination: D, routing_key: str, arguments: Arguments | None = None) -> bool:
        """Add a binding; raises TypeError for argument values no field table can carry."""
        binding = Binding.make(destination, routing_key, arguments)
        if not self._ledger.add(binding):
            return False
        counts = self._index.setdefault(routing_key, {})
        counts[destination] = counts.get(destination, 0) + 1
        return True

    def unbind(self, destination: D, routing_key: str, arguments: Arguments | None = None) -> bool:
        """Remove a binding; raises TypeError like bind for unsupported argument values."""
        binding = Binding.make(destination, routing_key, arguments)
        if not self._ledger.remove(binding):
            return False
        self._forget(binding)
        return True

    def unbind_destination(self, destination: D) -> int:
        removed = self._ledger.remove_destination(destination)
        for binding in removed:
            self._forget(binding)
        return len(removed)

    def route(self, routing_key: str, headers: Mapping[str, object] | None = None) -> set[D]:
        """Headers are ignored by this type."""
        return set(self._index.get(routing_key, ()))

    def bindings(self) -> list[Binding[D]]:
        return list(self._ledger)

    def has_bindings(self) -> bool:
        return len(self._ledger) > 0

    def __len__(self) -> int:
        return len(self._ledger)

    def _forget(self, binding: Binding[D]) -> None:
        counts = self._index[binding.routing_key]
        left = counts[binding.destination] - 1
        if left:
            counts[binding.destination] = left
        else:
            del counts[binding.destination]
            if not counts:
                del self._index[binding.routing_key]
