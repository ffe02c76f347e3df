# The insertion-ordered record of bindings that every exchange type keeps beside its index.
#
# Rules kept here:
# - Each binding is stored once; add/remove report whether anything changed.
# - Removal by destination is proportional to that destination's bindings, not to all bindings.
# - The ledger knows nothing about routing; exchange types update their own index from the
#   bindings it reports as added or removed.
from __future__ import annotations

from collections.abc import Iterator
from typing import Generic

from exchanges.base import Binding, D


class BindingLedger(Generic[D]):
    """An ordered set of bindings with a per-destination index."""

    __slots__ = ("_all", "_by_destination")

    def __init__(self) -> None:
        # dicts used as ordered sets (values unused)
        self._all: dict[Binding[D], None] = {}
        self._by_destination: dict[D, dict[Binding[D], None]] = {}

    def add(self, binding: Binding[D]) -> bool:
        """Record a binding; False if it was already there."""
        if binding in self._all:
            return False
        self._all[binding] = None
        self._by_destination.setdefault(binding.destination, {})[binding] = None
        return True

    def remove(self, binding: Binding[D]) -> bool:
        """Forget a binding; False if it was not there."""
        if binding not in self._all:
            return False
        del self._all[binding]
        own = self._by_destination[binding.destination]
        del own[binding]
        if not own:
            del self._by_destination[binding.destination]
        return True

    def remove_destination(self, destination: D) -> list[Binding[D]]:
        """Forget every binding of a destination and return them (in insertion order)."""
        own = self._by_destination.pop(destination, None)
        if own is None:
            return []
        for binding in own:
            del self._all[binding]
        return list(own)

    def __contains__(self, binding: object) -> bool:
        return binding in self._all

    def __iter__(self) -> Iterator[Binding[D]]:
        return iter(self._all)

    def __len__(self) -> int:
        return len(self._all)
