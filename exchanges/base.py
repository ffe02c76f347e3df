# The shared vocabulary of exchange types: bindings, errors and the ExchangeType protocol.
#
# Rules kept here:
# - A destination is any hashable value chosen by the broker (e.g. ("queue", name)).
# - A binding is identified by (destination, routing key, frozen arguments); binding the same
#   triple twice is a no-op, and arguments that differ only in Python-equal-but-AMQP-different
#   values (True vs 1) make different bindings.
# - Exchange types are pure and synchronous: no I/O, no broker imports, standard library only.
from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Generic, Protocol, TypeAlias, TypeVar

from exchanges.arguments import EMPTY_ARGUMENTS, FrozenArguments, freeze_arguments

__all__ = [
    "EMPTY_ARGUMENTS",
    "Arguments",
    "Binding",
    "D",
    "ExchangeType",
    "FrozenArguments",
    "InvalidBinding",
    "UnknownExchangeType",
    "freeze_arguments",
]

D = TypeVar("D", bound=Hashable)
Arguments: TypeAlias = Mapping[str, object]


@dataclass(frozen=True, slots=True)
class Binding(Generic[D]):
    """One binding as stored by an exchange type; hashable, so usable as its own identity."""

    destination: D
    routing_key: str
    arguments: FrozenArguments = EMPTY_ARGUMENTS

    @classmethod
    def make(cls, destination: D, routing_key: str, arguments: Arguments | None) -> Binding[D]:
        """Build a binding from raw arguments; raises TypeError for unsupported values."""
        return cls(destination, routing_key, freeze_arguments(arguments))

    def arguments_dict(self) -> dict[str, object]:
        """A fresh plain dict of the arguments, for listing (keys sorted, like RabbitMQ)."""
        return self.arguments.to_dict()


class InvalidBinding(ValueError):  # noqa: N818 - name fixed by the broker API
    """Binding arguments the exchange type refuses; the broker answers 406 PRECONDITION_FAILED.

    The message text follows RabbitMQ's so clients see familiar errors.
    """


class UnknownExchangeType(LookupError):  # noqa: N818 - name fixed by the broker API
    """exchange.declare named a type this broker does not implement (503 COMMAND_INVALID)."""

    def __init__(self, type_name: str) -> None:
        super().__init__(f"invalid exchange type '{type_name}'")
        self.type_name = type_name


class ExchangeType(Protocol[D]):
    """What the broker needs from a routing table; one instance per declared exchange."""

    type_name: ClassVar[str]

    def bind(self, destination: D, routing_key: str, arguments: Arguments | None = None) -> bool:
        """Add a binding; False if that exact binding existed. Raises InvalidBinding."""
        ...

    def unbind(self, destination: D, routing_key: str, arguments: Arguments | None = None) -> bool:
        """Remove a binding; False if it did not exist."""
        ...

    def unbind_destination(self, destination: D) -> int:
        """Remove every binding of a destination (it was deleted); return how many."""
        ...

    def route(self, routing_key: str, headers: Mapping[str, object] | None = None) -> set[D]:
        """The destinations a message with this routing key and these headers goes to."""
        ...

    def bindings(self) -> list[Binding[D]]:
        """All bindings in insertion order (a re-bind after unbind goes last)."""
        ...

    def has_bindings(self) -> bool:
        """Whether any binding exists (auto-delete exchanges watch this)."""
        ...

    def __len__(self) -> int:
        """The number of bindings."""
        ...
