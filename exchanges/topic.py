# The topic exchange type: a trie of binding-key words, walked once per message.
#
# Rules kept here (RabbitMQ's rabbit_exchange_type_topic):
# - Keys split on "." exactly: "" is zero words, "." is two empty words, "a..b" is
#   ["a", "", "b"]. Empty words are ordinary words.
# - In a binding key "*" matches exactly one word (an empty one too) and "#" matches zero or
#   more words. Routing keys have no wildcards: a "*" or "#" there is a literal word.
# - Bindings live at the trie node their last word leads to. Unbinding prunes nodes left with
#   neither bindings nor children all the way back to the root, so the trie never holds garbage.
# - A route visits each (node, word position) pair at most once, so keys with many "#" stay
#   cheap: the work depends on the key's length and the matching part of the trie, never on the
#   total number of bindings.
# - Routes are remembered by routing key until the bindings change (any bind or unbind forgets
#   them all): most flows reuse a few keys, and a lookup costs a tenth of a walk. At
#   ROUTE_CACHE_SIZE keys the memory is emptied, so keys that never repeat cost one insertion
#   each, and an exchange holds at most that many remembered routes.
from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Generic

from exchanges.base import Arguments, Binding, D
from exchanges.ledger import BindingLedger

STAR = "*"
HASH = "#"
ROUTE_CACHE_SIZE = 4096


def split_words(key: str) -> list[str]:
    """Split a topic key into words; the empty key has no words at all."""
    return key.split(".") if key else []


class _Node(Generic[D]):
    """One trie node: the word that leads here, its children and the bindings ending here."""

    __slots__ = ("children", "destinations", "parent", "word")

    def __init__(self, parent: _Node[D] | None, word: str) -> None:
        self.parent = parent
        self.word = word
        self.children: dict[str, _Node[D]] = {}
        # destination -> number of bindings (differing only in arguments) ending here
        self.destinations: dict[D, int] = {}

    def is_empty(self) -> bool:
        return not self.children and not self.destinations


class TopicExchange(Generic[D]):
    """Routing table of a topic exchange."""

    type_name: ClassVar[str] = "topic"

    def __init__(self) -> None:
        self._ledger: BindingLedger[D] = BindingLedger()
        self._root: _Node[D] = _Node(None, "")
        self._routes: dict[str, tuple[D, ...]] = {}  # routing key -> destinations

    def bind(self, destination: D, routing_key: str, arguments: Arguments | None = None) -> bool:
        """Add a binding; raises TypeError for argument values no field table can carry."""
        if not self._ledger.add(Binding.make(destination, routing_key, arguments)):
            return False
        node = self._root
        for word in split_words(routing_key):
            child = node.children.get(word)
            if child is None:
                child = node.children[word] = _Node(node, word)
            node = child
        node.destinations[destination] = node.destinations.get(destination, 0) + 1
        self._routes.clear()
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
        routes = self._routes
        found = routes.get(routing_key)
        if found is None:
            if len(routes) >= ROUTE_CACHE_SIZE:
                routes.clear()
            found = routes[routing_key] = tuple(self._walk(routing_key))
        return set(found)

    def _walk(self, routing_key: str) -> set[D]:
        words = split_words(routing_key)
        end = len(words)
        result: set[D] = set()
        seen: set[tuple[int, int]] = set()
        # (node, index of the next unconsumed word)
        pending: list[tuple[_Node[D], int]] = [(self._root, 0)]
        while pending:
            node, at = pending.pop()
            mark = (id(node), at)
            if mark in seen:
                continue
            seen.add(mark)
            if node.word == HASH and at < end:
                # a "#" may swallow one more word and stay where it is
                pending.append((node, at + 1))
            hash_child = node.children.get(HASH)
            if hash_child is not None:
                # a "#" may also swallow nothing
                pending.append((hash_child, at))
            if at == end:
                result.update(node.destinations)
                continue
            literal = node.children.get(words[at])
            if literal is not None:
                pending.append((literal, at + 1))
            star = node.children.get(STAR)
            if star is not None:
                pending.append((star, at + 1))
        return result

    def bindings(self) -> list[Binding[D]]:
        return list(self._ledger)

    def has_bindings(self) -> bool:
        return len(self._ledger) > 0

    def __len__(self) -> int:
        return len(self._ledger)

    def _node_count(self) -> int:
        """Test hook: how many trie nodes exist, the root included (1 when nothing is bound)."""
        count = 0
        stack = [self._root]
        while stack:
            node = stack.pop()
            count += 1
            stack.extend(node.children.values())
        return count

    def _forget(self, binding: Binding[D]) -> None:
        self._routes.clear()
        node = self._root
        for word in split_words(binding.routing_key):
            node = node.children[word]
        left = node.destinations[binding.destination] - 1
        if left:
            node.destinations[binding.destination] = left
        else:
            del node.destinations[binding.destination]
        parent = node.parent
        while parent is not None and node.is_empty():
            del parent.children[node.word]
            node, parent = parent, parent.parent
