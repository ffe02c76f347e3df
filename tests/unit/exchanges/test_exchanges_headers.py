import datetime
from decimal import Decimal

import pytest

from exchanges import HeadersExchange, InvalidBinding


def matches(arguments: dict[str, object] | None, headers: dict[str, object] | None) -> bool:
    exchange: HeadersExchange[str] = HeadersExchange()
    exchange.bind("q", "", arguments)
    return exchange.route("", headers) == {"q"}


# --- x-match validation ---------------------------------------------------------------


@pytest.mark.parametrize("mode", ["all", "any", "all-with-x", "any-with-x"])
def test_headers_accepts_the_four_x_match_values(mode: str) -> None:
    exchange: HeadersExchange[str] = HeadersExchange()
    assert exchange.bind("q", "", {"x-match": mode})


def test_headers_bogus_x_match_is_refused_with_rabbitmq_text() -> None:
    exchange: HeadersExchange[str] = HeadersExchange()
    with pytest.raises(InvalidBinding) as caught:
        exchange.bind("q", "", {"x-match": "bogus"})
    assert str(caught.value) == (
        'Invalid x-match field value <<"bogus">>; expected all, any, all-with-x, or any-with-x'
    )
    assert len(exchange) == 0


def test_headers_x_match_is_case_sensitive() -> None:
    with pytest.raises(InvalidBinding):
        HeadersExchange[str]().bind("q", "", {"x-match": "ALL"})


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1, "Invalid x-match field type signedint (value 1); expected longstr"),
        (True, "Invalid x-match field type bool (value true); expected longstr"),
        (b"all", 'Invalid x-match field type binary (value <<"all">>); expected longstr'),
        (None, "Invalid x-match field type void (value undefined); expected longstr"),
    ],
)
def test_headers_non_string_x_match_is_refused(value: object, text: str) -> None:
    with pytest.raises(InvalidBinding) as caught:
        HeadersExchange[str]().bind("q", "", {"x-match": value})
    assert str(caught.value) == text


def test_headers_unbind_with_bogus_x_match_just_returns_false() -> None:
    assert HeadersExchange[str]().unbind("q", "", {"x-match": "bogus"}) is False


def test_headers_non_ascii_x_match_is_shown_as_utf8_binary() -> None:
    with pytest.raises(InvalidBinding, match='<<"été"/utf8>>'):
        HeadersExchange[str]().bind("q", "", {"x-match": "été"})


# --- all / any --------------------------------------------------------------------------


def test_headers_default_mode_is_all() -> None:
    assert matches({"a": 1, "b": 2}, {"a": 1, "b": 2, "c": 3})
    assert not matches({"a": 1, "b": 2}, {"a": 1})


def test_headers_all_needs_every_key_to_match() -> None:
    arguments: dict[str, object] = {"x-match": "all", "a": "1", "b": "2"}
    assert matches(arguments, {"a": "1", "b": "2"})
    assert not matches(arguments, {"a": "1", "b": "3"})
    assert not matches(arguments, {"a": "1"})
    assert not matches(arguments, None)


def test_headers_any_needs_one_key_to_match() -> None:
    arguments: dict[str, object] = {"x-match": "any", "a": "1", "b": "2"}
    assert matches(arguments, {"a": "1"})
    assert matches(arguments, {"a": "0", "b": "2"})
    assert not matches(arguments, {"a": "0", "b": "0"})
    assert not matches(arguments, {"c": "1"})
    assert not matches(arguments, None)


def test_headers_all_with_no_keys_matches_every_message() -> None:
    assert matches(None, None)
    assert matches({}, {"a": 1})
    assert matches({"x-match": "all"}, None)
    assert matches({"x-match": "all", "x-other": 1}, {})


def test_headers_any_with_only_x_keys_matches_nothing() -> None:
    assert not matches({"x-match": "any"}, {"a": 1})
    assert not matches({"x-match": "any", "x-a": 1}, {"x-a": 1})
    assert not matches({"x-match": "any"}, None)


def test_headers_x_keys_are_ignored_without_with_x() -> None:
    assert matches({"x-match": "all", "x-a": 1, "b": 2}, {"b": 2})
    assert not matches({"x-match": "any", "x-a": 1}, {"x-a": 1})


def test_headers_with_x_variants_match_x_keys() -> None:
    assert matches({"x-match": "all-with-x", "x-a": 1}, {"x-a": 1})
    assert not matches({"x-match": "all-with-x", "x-a": 1}, {})
    assert not matches({"x-match": "all-with-x", "x-a": 1, "b": 2}, {"b": 2})
    assert matches({"x-match": "any-with-x", "x-a": 1, "b": 2}, {"x-a": 1})
    assert not matches({"x-match": "any-with-x", "x-a": 1}, {"x-a": 2})


def test_headers_x_match_itself_is_never_matched() -> None:
    assert matches({"x-match": "all-with-x"}, {})
    assert not matches({"x-match": "any-with-x"}, {"x-match": "any-with-x"})


def test_headers_void_binding_value_matches_presence_only() -> None:
    arguments: dict[str, object] = {"a": None}
    assert matches(arguments, {"a": "anything"})
    assert matches(arguments, {"a": None})
    assert matches(arguments, {"a": 0})
    assert not matches(arguments, {"b": 1})
    assert matches({"x-match": "any", "a": None, "b": 1}, {"a": 5})


def test_headers_void_header_does_not_match_a_valued_binding() -> None:
    assert not matches({"a": ""}, {"a": None})
    assert not matches({"a": 0}, {"a": None})


def test_headers_routing_key_is_ignored() -> None:
    exchange: HeadersExchange[str] = HeadersExchange()
    exchange.bind("q", "some.key", {"a": 1})
    assert exchange.route("other", {"a": 1}) == {"q"}


# --- value comparison -------------------------------------------------------------------


def test_headers_bool_true_never_matches_int_1() -> None:
    assert not matches({"a": True}, {"a": 1})
    assert not matches({"a": 1}, {"a": True})
    assert not matches({"a": False}, {"a": 0})
    assert not matches({"a": True}, {"a": 1.0})
    assert matches({"a": True}, {"a": True})
    assert not matches({"a": True}, {"a": False})


def test_headers_int_matches_float_of_same_value() -> None:
    assert matches({"a": 1}, {"a": 1.0})
    assert matches({"a": 2.0}, {"a": 2})
    assert not matches({"a": 1}, {"a": 1.5})


def test_headers_str_never_matches_number() -> None:
    assert not matches({"a": "1"}, {"a": 1})
    assert not matches({"a": 1}, {"a": "1"})


def test_headers_str_matches_bytes_with_same_utf8() -> None:
    assert matches({"a": "héllo"}, {"a": "héllo".encode()})
    assert matches({"a": b"abc"}, {"a": "abc"})
    assert not matches({"a": "abc"}, {"a": b"abd"})


def test_headers_str_comparison_is_case_sensitive() -> None:
    assert not matches({"a": "abc"}, {"a": "ABC"})


def test_headers_decimal_equals_only_identical_decimal() -> None:
    assert matches({"a": Decimal("1.5")}, {"a": Decimal("1.5")})
    assert not matches({"a": Decimal("1.0")}, {"a": Decimal("1.00")})
    assert not matches({"a": Decimal("1")}, {"a": 1})
    assert not matches({"a": 1.5}, {"a": Decimal("1.5")})


def test_headers_timestamp_matches_same_instant() -> None:
    when = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    naive = datetime.datetime(2024, 1, 2, 3, 4, 5)
    assert matches({"a": when}, {"a": when})
    assert matches({"a": when}, {"a": naive})
    assert not matches({"a": when}, {"a": when + datetime.timedelta(seconds=1)})


def test_headers_timestamp_is_its_posix_seconds_like_erlang() -> None:
    when = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    assert matches({"a": when}, {"a": int(when.timestamp())})
    assert not matches({"a": when}, {"a": str(int(when.timestamp()))})


def test_headers_arrays_compare_element_wise() -> None:
    assert matches({"a": [1, "x", [True]]}, {"a": [1, "x", [True]]})
    assert not matches({"a": [1, 2]}, {"a": [2, 1]})
    assert not matches({"a": [1]}, {"a": [1, 1]})
    assert not matches({"a": [True]}, {"a": [1]})


def test_headers_array_elements_keep_their_type_tag() -> None:
    assert not matches({"a": [1]}, {"a": [1.0]})
    assert not matches({"a": ["x"]}, {"a": [b"x"]})


def test_headers_tables_compare_by_entries() -> None:
    assert matches({"a": {"k": 1, "j": "v"}}, {"a": {"j": "v", "k": 1}})
    assert not matches({"a": {"k": 1}}, {"a": {"k": 1, "j": 2}})
    assert not matches({"a": {"k": True}}, {"a": {"k": 1}})


def test_headers_array_never_equals_scalar() -> None:
    assert not matches({"a": [1]}, {"a": 1})
    assert not matches({"a": "x"}, {"a": ["x"]})


def test_headers_unknown_message_value_type_matches_nothing() -> None:
    assert not matches({"a": 1}, {"a": object()})
    assert matches({"a": None}, {"a": object()})


# --- bookkeeping ------------------------------------------------------------------------


def test_headers_same_arguments_in_other_order_are_the_same_binding() -> None:
    exchange: HeadersExchange[str] = HeadersExchange()
    assert exchange.bind("q", "", {"a": 1, "b": 2})
    assert not exchange.bind("q", "", {"b": 2, "a": 1})
    assert exchange.bind("q", "", {"a": True, "b": 2})
    assert len(exchange) == 2


def test_headers_routes_each_destination_once() -> None:
    exchange: HeadersExchange[str] = HeadersExchange()
    exchange.bind("q", "", {"a": 1})
    exchange.bind("q", "", {"x-match": "any", "a": 1, "b": 2})
    exchange.bind("r", "", {"b": 2})
    assert exchange.route("", {"a": 1}) == {"q"}
    assert exchange.route("", {"a": 1, "b": 2}) == {"q", "r"}


def test_headers_unbind_and_unbind_destination() -> None:
    exchange: HeadersExchange[str] = HeadersExchange()
    exchange.bind("q", "", {"a": 1})
    exchange.bind("q", "", {"b": 1})
    exchange.bind("r", "", {"a": 1})
    assert exchange.unbind("q", "", {"a": 1})
    assert not exchange.unbind("q", "", {"a": 1})
    assert exchange.route("", {"a": 1}) == {"r"}
    assert exchange.unbind_destination("q") == 1
    assert exchange.route("", {"b": 1}) == set()
    assert [b.arguments_dict() for b in exchange.bindings()] == [{"a": 1}]
