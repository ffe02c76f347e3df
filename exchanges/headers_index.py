# The candidate index of a headers exchange: which bindings a message could possibly match.
#
# Rules kept here:
# - Entries are keyed by (header key, term) where the term is the field_values comparison term,
#   so dict lookup follows the matcher's equality: 1 and 1.0 share a slot (equal hashes), True
#   is ("atom", True) and never meets 1, "a" and b"a" are both b"a". A void binding value is
#   keyed by (header key, presence marker) and found for any value of that header.
# - An "all" binding is indexed under one of its pairs: a value pair when it has one (a presence
#   pair is hit by every value), and among those the one whose slot is smallest at bind time, so
#   bindings sharing a common pair (kind=event) spread over their distinctive ones
#   (service=svc<i>). An "any" binding is indexed under every pair. An "all" binding with no
#   pairs matches every message and is kept in `always`; an "any" binding with none matches
#   nothing and is not indexed at all.
# - A pair whose term cannot be hashed sends the binding to `always` (checked on every route).
# - The index only proposes candidates; the caller verifies each with the exact matcher, so a
#   false positive (such as the same NaN object) costs time, never correctness.
# - Removal deletes exactly the entries added, and drops emptied slots.
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

Pair = tuple[str, object]


class CandidateIndex(Generic[K, V]):
    """Items (keyed by K, carrying V) filed under (key, term) pairs."""

    __slots__ = ("_always", "_filed", "_slots")

    def __init__(self) -> None:
        self._slots: dict[Pair, dict[K, V]] = {}
        self._always: dict[K, V] = {}
        # the slots each item was filed under, for exact removal
        self._filed: dict[K, tuple[Pair, ...]] = {}

    def add(
        self,
        item: K,
        value: V,
        match_any: bool,
        wanted: tuple[Pair, ...],
        presence: object,
    ) -> None:
        """File an item; `presence` is the marker standing for a void binding value."""
        try:
            for pair in wanted:
                hash(pair)
        except TypeError:
            wanted = ()
            match_any = False  # filed in `always`, as an "all" binding without pairs
        pairs: tuple[Pair, ...]
        if match_any:
            pairs = wanted
        elif not wanted:
            pairs = ()
            self._always[item] = value
        else:
            pairs = (min(wanted, key=self._cost_with(presence)),)
        for pair in pairs:
            self._slots.setdefault(pair, {})[item] = value
        self._filed[item] = pairs

    def _cost_with(self, presence: object) -> Callable[[Pair], tuple[bool, int]]:
        # value pairs before presence pairs (those are hit by every value), then the emptiest
        # slot, so bindings sharing a common pair spread over their distinctive ones
        slots = self._slots

        def cost(pair: Pair) -> tuple[bool, int]:
            slot = slots.get(pair)
            return (pair[1] is presence, 0 if slot is None else len(slot))

        return cost

    def remove(self, item: K) -> None:
        pairs = self._filed.pop(item, ())
        self._always.pop(item, None)
        for pair in pairs:
            slot = self._slots.get(pair)
            if slot is None:
                continue
            slot.pop(item, None)
            if not slot:
                del self._slots[pair]

    def candidates(self, terms: Mapping[str, object], presence: object) -> dict[K, V]:
        """Every item that could match headers with these terms (possibly more)."""
        found: dict[K, V] = dict(self._always)
        slots = self._slots
        for key, term in terms.items():
            slot = slots.get((key, presence))
            if slot:
                found.update(slot)
            try:
                slot = slots.get((key, term))
            except TypeError:
                continue
            if slot:
                found.update(slot)
        return found

    def slot_count(self) -> int:
        return len(self._slots)

    def filed(self) -> Iterable[K]:
        return self._filed.keys()
