# The headers exchange type: routing by message headers, RabbitMQ 3.10 semantics.
#
# Rules kept here (rabbit_exchange_type_headers):
# - "x-match" is "all" (the default when absent), "any", "all-with-x" or "any-with-x"; any
#   other value or a non-string is refused at bind time with RabbitMQ's error text.
# - Binding keys starting with "x-" take no part in matching unless a "-with-x" mode is used;
#   "x-match" itself never does.
# - all: every remaining binding key must match, so a binding with none matches every message
#   (even one without headers). any: at least one must match, so with none it matches nothing.
# - A binding value of None (void) only asks for the header to be present, whatever its value.
# - Other values compare as Erlang == on decoded values (see field_values).
# - The routing key is ignored. Missing headers (None) count as an empty table.
# - Routing looks only at candidate bindings proposed by a headers_index.CandidateIndex (keyed by
#   header key and comparison term) and verifies each with the exact matcher, so its cost follows
#   the message's headers and the bindings they could match, not the number of bindings. Each
#   header value is converted once per message.
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Final, Generic

from exchanges.base import Arguments, Binding, D, InvalidBinding
from exchanges.field_values import Term, erlang_repr, to_term, type_tag
from exchanges.headers_index import CandidateIndex
from exchanges.ledger import BindingLedger

X_MATCH: Final = "x-match"
MATCH_MODES: Final = ("all", "any", "all-with-x", "any-with-x")


class _Present:
    """Binding value None: the header only has to exist."""

    __slots__ = ()


_PRESENT: Final = _Present()


def validate_x_match(arguments: Arguments | None) -> str:
    """The binding's match mode; raises InvalidBinding for a bad x-match (RabbitMQ's text)."""
    if not arguments or X_MATCH not in arguments:
        return "all"
    value = arguments[X_MATCH]
    if not isinstance(value, str):
        raise InvalidBinding(
            f"Invalid x-match field type {type_tag(value)} (value {erlang_repr(value)}); "
            "expected longstr"
        )
    if value not in MATCH_MODES:
        raise InvalidBinding(
            f"Invalid x-match field value {erlang_repr(value)}; "
            "expected all, any, all-with-x, or any-with-x"
        )
    return value


@dataclass(frozen=True, slots=True)
class _Matcher:
    """A binding's arguments compiled for matching."""

    match_any: bool
    wanted: tuple[tuple[str, Term], ...]

    @classmethod
    def compile(cls, arguments: Mapping[str, object]) -> _Matcher:
        """Raises InvalidBinding for a bad x-match."""
        mode = validate_x_match(arguments)
        with_x = mode.endswith("-with-x")
        wanted = tuple(
            (key, _PRESENT if value is None else to_term(value))
            for key, value in arguments.items()
            if key != X_MATCH and (with_x or not key.startswith("x-"))
        )
        return cls(match_any=mode.startswith("any"), wanted=wanted)

    def matches(self, headers: Mapping[str, Term]) -> bool:
        results = (
            key in headers and (expected is _PRESENT or headers[key] == expected)
            for key, expected in self.wanted
        )
        return any(results) if self.match_any else all(results)


class HeadersExchange(Generic[D]):
    """Routing table of a headers exchange."""

    type_name: ClassVar[str] = "headers"

    def __init__(self) -> None:
        self._ledger: BindingLedger[D] = BindingLedger()
        self._matchers: dict[Binding[D], _Matcher] = {}
        self._index: CandidateIndex[Binding[D], _Matcher] = CandidateIndex()

    def bind(self, destination: D, routing_key: str, arguments: Arguments | None = None) -> bool:
        """Add a binding; raises InvalidBinding for a bad x-match and TypeError for argument
        values no field table can carry. Nothing is stored when it raises."""
        binding = Binding.make(destination, routing_key, arguments)
        matcher = _Matcher.compile(binding.arguments)
        if not self._ledger.add(binding):
            return False
        self._matchers[binding] = matcher
        self._index.add(binding, matcher, matcher.match_any, matcher.wanted, _PRESENT)
        return True

    def unbind(self, destination: D, routing_key: str, arguments: Arguments | None = None) -> bool:
        """Remove a binding; never validates x-match (a bad one could not have been bound)."""
        binding = Binding.make(destination, routing_key, arguments)
        if not self._ledger.remove(binding):
            return False
        del self._matchers[binding]
        self._index.remove(binding)
        return True

    def unbind_destination(self, destination: D) -> int:
        removed = self._ledger.remove_destination(destination)
        for binding in removed:
            del self._matchers[binding]
            self._index.remove(binding)
        return len(removed)

    def route(self, routing_key: str, headers: Mapping[str, object] | None = None) -> set[D]:
        """The routing key is ignored by this type."""
        terms = {key: to_term(value) for key, value in (headers or {}).items()}
        return {
            binding.destination
            for binding, matcher in self._index.candidates(terms, _PRESENT).items()
            if matcher.matches(terms)
        }

    def bindings(self) -> list[Binding[D]]:
        return list(self._ledger)

    def has_bindings(self) -> bool:
        return len(self._ledger) > 0

    def __len__(self) -> int:
        return len(self._ledger)
