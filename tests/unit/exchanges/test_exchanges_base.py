import datetime
from decimal import Decimal

import pytest

from exchanges import (
    EMPTY_ARGUMENTS,
    Binding,
    FrozenArguments,
    InvalidBinding,
    UnknownExchangeType,
    freeze_arguments,
)


def test_none_and_empty_dict_freeze_the_same() -> None:
    assert freeze_arguments(None) == freeze_arguments({}) == EMPTY_ARGUMENTS
    assert hash(freeze_arguments(None)) == hash(freeze_arguments({}))


def test_bool_true_and_int_1_freeze_differently() -> None:
    assert freeze_arguments({"a": True}) != freeze_arguments({"a": 1})
    assert freeze_arguments({"a": False}) != freeze_arguments({"a": 0})


def test_int_and_float_freeze_differently() -> None:
    assert freeze_arguments({"a": 1}) != freeze_arguments({"a": 1.0})


def test_str_and_bytes_freeze_differently() -> None:
    assert freeze_arguments({"a": "x"}) != freeze_arguments({"a": b"x"})


def test_decimal_scale_is_part_of_identity() -> None:
    assert freeze_arguments({"a": Decimal("1.0")}) != freeze_arguments({"a": Decimal("1.00")})
    assert freeze_arguments({"a": Decimal("1.0")}) == freeze_arguments({"a": Decimal("1.0")})


def test_negative_zero_float_is_distinct_and_nan_equals_itself() -> None:
    assert freeze_arguments({"a": 0.0}) != freeze_arguments({"a": -0.0})
    assert freeze_arguments({"a": float("nan")}) == freeze_arguments({"a": float("nan")})


def test_key_order_does_not_matter_even_nested() -> None:
    one = freeze_arguments({"a": 1, "b": {"x": 1, "y": 2}})
    two = freeze_arguments({"b": {"y": 2, "x": 1}, "a": 1})
    assert one == two
    assert hash(one) == hash(two)


def test_nested_bool_and_int_stay_apart() -> None:
    assert freeze_arguments({"a": [True]}) != freeze_arguments({"a": [1]})
    assert freeze_arguments({"a": {"b": True}}) != freeze_arguments({"a": {"b": 1}})


def test_every_field_type_round_trips() -> None:
    when = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC)
    original: dict[str, object] = {
        "bool": True,
        "bytes": b"\x00\xff",
        "decimal": Decimal("3.140"),
        "float": 2.5,
        "int": -(2**40),
        "list": [1, "two", [3.0], {"four": None}],
        "none": None,
        "str": "héllo",
        "table": {"inner": {"deeper": False}},
        "timestamp": when,
    }
    frozen = freeze_arguments(original)
    thawed = frozen.to_dict()
    assert thawed == original
    assert type(thawed["bool"]) is bool
    assert type(thawed["int"]) is int
    assert str(thawed["decimal"]) == "3.140"
    assert freeze_arguments(thawed) == frozen


def test_thawed_values_are_fresh_copies() -> None:
    frozen = freeze_arguments({"list": [1, 2]})
    thawed = frozen["list"]
    assert isinstance(thawed, list)
    thawed.append(3)
    assert frozen["list"] == [1, 2]


def test_freezing_copies_the_input() -> None:
    source: dict[str, object] = {"list": [1]}
    frozen = freeze_arguments(source)
    source["list"] = [2]
    assert frozen.to_dict() == {"list": [1]}


def test_frozen_arguments_is_a_read_only_mapping() -> None:
    frozen = freeze_arguments({"b": 2, "a": 1})
    assert list(frozen) == ["a", "b"]
    assert len(frozen) == 2
    assert "a" in frozen
    assert "c" not in frozen
    assert frozen.get("c") is None
    with pytest.raises(KeyError):
        frozen["c"]


def test_freeze_arguments_returns_frozen_input_unchanged() -> None:
    frozen = freeze_arguments({"a": 1})
    assert freeze_arguments(frozen) is frozen


def test_frozen_arguments_never_equals_a_plain_dict() -> None:
    assert freeze_arguments({"a": 1}) != {"a": 1}


def test_unsupported_value_type_raises_type_error() -> None:
    with pytest.raises(TypeError):
        freeze_arguments({"a": {1, 2}})


def test_non_str_key_raises_type_error() -> None:
    with pytest.raises(TypeError):
        freeze_arguments({"a": {1: "x"}})


def test_binding_is_hashable_and_compares_by_frozen_arguments() -> None:
    one = Binding.make(("queue", "q"), "k", {"a": 1})
    two = Binding(("queue", "q"), "k", freeze_arguments({"a": 1}))
    three = Binding.make(("queue", "q"), "k", {"a": True})
    assert one == two
    assert hash(one) == hash(two)
    assert one != three
    assert len({one, two, three}) == 2


def test_binding_arguments_dict_gives_plain_dict() -> None:
    binding = Binding.make("q", "k", {"x-match": "any", "n": [1]})
    assert binding.arguments_dict() == {"n": [1], "x-match": "any"}
    assert type(binding.arguments_dict()) is dict
    assert isinstance(binding.arguments, FrozenArguments)


def test_binding_without_arguments_defaults_to_empty() -> None:
    assert Binding("q", "k").arguments is EMPTY_ARGUMENTS
    assert Binding("q", "k").arguments_dict() == {}


def test_error_types_fit_the_standard_hierarchy() -> None:
    assert issubclass(InvalidBinding, ValueError)
    error = UnknownExchangeType("x-custom")
    assert isinstance(error, LookupError)
    assert error.type_name == "x-custom"
    assert "x-custom" in str(error)
