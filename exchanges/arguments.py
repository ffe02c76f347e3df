# Binding arguments in a canonical, hashable, immutable form.
#
# Rules kept here:
# - A binding is identified by (destination, routing key, arguments), so arguments must hash and
#   compare by value. Every supported field-table value is frozen into a tagged pair
#   ("kind", payload) so that values Python considers equal but AMQP does not stay apart:
#   True vs 1, 1 vs 1.0, "a" vs b"a", Decimal("1.0") vs Decimal("1.00"), 0.0 vs -0.0.
# - None and {} freeze to the same (empty) arguments.
# - Tables are order-insensitive: keys are sorted, as RabbitMQ sorts binding arguments. Thawing
#   therefore gives keys back in sorted order.
# - Freezing is lossless for the supported types, so the original values can be thawed back for
#   listing (fresh copies each time: callers can never mutate a stored binding).
from __future__ import annotations

import datetime
import decimal
from collections.abc import Iterator, Mapping
from typing import Any, Final, TypeAlias, final

Frozen: TypeAlias = tuple[str, object]
"""A frozen field value: (kind, hashable payload)."""

_VOID: Final[Frozen] = ("void", None)


def freeze_value(value: object) -> Frozen:
    """Freeze one decoded field-table value.

    Raises TypeError for a value no AMQP field table can carry (sets, objects, non-str table
    keys), because silently accepting it would make binding identity meaningless.
    """
    if value is None:
        return _VOID
    # bool before int: bool is a subclass of int and True == 1 in Python.
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("int", int(value))
    if isinstance(value, float):
        # hex() keeps 0.0 and -0.0 apart and makes NaN equal to itself.
        return ("float", value.hex())
    if isinstance(value, decimal.Decimal):
        # str() is lossless and keeps the scale: Decimal("1.0") and Decimal("1.00") differ on
        # the wire, so they must not merge.
        return ("decimal", str(value))
    if isinstance(value, str):
        return ("str", value)
    if isinstance(value, bytes | bytearray | memoryview):
        return ("bytes", bytes(value))
    if isinstance(value, datetime.datetime):
        return ("timestamp", value)
    if isinstance(value, Mapping):
        return ("table", _freeze_items(value))
    if isinstance(value, list | tuple):
        return ("array", tuple(freeze_value(item) for item in value))
    raise TypeError(f"unsupported field value type {type(value).__name__}: {value!r}")


def thaw_value(frozen: Frozen) -> object:
    """Rebuild a fresh plain value (lists and dicts are new objects every call)."""
    kind, payload = frozen
    if kind == "float":
        assert isinstance(payload, str)
        return float.fromhex(payload)
    if kind == "decimal":
        assert isinstance(payload, str)
        return decimal.Decimal(payload)
    if kind == "table":
        assert isinstance(payload, tuple)
        return {key: thaw_value(item) for key, item in payload}
    if kind == "array":
        assert isinstance(payload, tuple)
        return [thaw_value(item) for item in payload]
    return payload


def _freeze_items(table: Mapping[Any, object]) -> tuple[tuple[str, Frozen], ...]:
    """Freeze a table into key-sorted pairs; raises TypeError for a non-str key."""
    items: list[tuple[str, Frozen]] = []
    for key, value in table.items():
        if not isinstance(key, str):
            raise TypeError(f"field table keys must be str, got {type(key).__name__}: {key!r}")
        items.append((key, freeze_value(value)))
    items.sort(key=lambda item: item[0])
    return tuple(items)


@final
class FrozenArguments(Mapping[str, object]):
    """Immutable, hashable binding arguments.

    Equality and hashing use the frozen form, never Python's value equality, so
    {"a": True} != {"a": 1}. Reading a value returns a fresh thawed copy.
    """

    __slots__ = ("_hash", "_index", "_items")

    def __init__(self, items: tuple[tuple[str, Frozen], ...] = ()) -> None:
        self._items: Final = items
        self._index: Final = dict(items)
        self._hash: Final = hash(items)

    @property
    def frozen_items(self) -> tuple[tuple[str, Frozen], ...]:
        """The canonical (key-sorted, frozen) items; the identity of these arguments."""
        return self._items

    def __getitem__(self, key: str) -> object:
        return thaw_value(self._index[key])

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FrozenArguments):
            return NotImplemented
        return self._hash == other._hash and self._items == other._items

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"FrozenArguments({self.to_dict()!r})"

    def to_dict(self) -> dict[str, object]:
        """A fresh plain dict (keys sorted) suitable for listing or re-encoding."""
        return {key: thaw_value(frozen) for key, frozen in self._items}


EMPTY_ARGUMENTS: Final = FrozenArguments()


def freeze_arguments(arguments: Mapping[str, object] | None) -> FrozenArguments:
    """Canonicalise binding arguments; None and {} give EMPTY_ARGUMENTS.

    Raises TypeError for an unsupported value type or a non-str key (see freeze_value).
    """
    if isinstance(arguments, FrozenArguments):
        return arguments
    if not arguments:
        return EMPTY_ARGUMENTS
    return FrozenArguments(_freeze_items(arguments))
