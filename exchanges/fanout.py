# The fanout exchange type: a message goes to every bound destination.
#
# Rules kept here:
# - Routing keys and headers are ignored for routing, but the key and arguments still belong to
#   a binding's identity (RabbitMQ keeps ("q", "a") and ("q", "b") as two bindings).
# - A destination with several bindings still receives a message once; the index counts them.
from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Generic

from exchanges.base import Arguments, Binding, D
from exchanges.ledger import BindingLedger


class FanoutExchange(Generic[D]):
    """Routing table of a fanout exchange."""

    type_name: ClassVar[str] = "fanout"

    def __init__(self) -> None:
        self._ledger: BindingLedger[D] = BindingLedger()
        self._counts: dict[D, int] = {}

    def bind(self, destination: D, routing_key: str, arguments: Arguments | None = None) -> bool:
        """Add a binding; raises TypeError for argument values no field table can carry."""
        if not self._ledger.add(Binding.make(destination, routing_key, arguments)):
            return False
        self._counts[destination] = self._counts.get(destination, 0) + 1
        return True

    def unbind(self, destination: D, routing_key: str, arguments: Arguments | None = None) -> bool:
        """Remove a binding; raises TypeError like bind for unsupported argument values."""
        if not self._ledger.remove(Binding.make(destination, routing_key, arguments)):
            return False
        left = self._counts[destination] - 1
        if left:
            self._counts[destination] = left
        else:
            del self._counts[destination]
        return True

    def unbind_destination(self, destination: D) -> int:
        removed = self._ledger.remove_destination(destination)
        if removed:
            del self._counts[destination]
        return len(removed)

    def route(self, routing_key: str, headers: Mapping[str, object] | None = None) -> set[D]:
        """Routing key and headers are ignored by this type."""
        return set(self._counts)

    def bindings(self) -> list[Binding[D]]:
        return list(self._ledger)

    def has_bindings(self) -> bool:
        return len(self._ledger) > 0

    def __len__(self) -> int:
        return len(self._ledger)
