import datetime
import decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from exchanges import HeadersExchange
from exchanges.field_values import to_term
from exchanges.headers import _Matcher

KEYS = ["a", "b", "c", "x-a", "x-b", "x-match"]
MODES = ["all", "any", "all-with-x", "any-with-x"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 2),
    st.sampled_from([2**31, 2**53 + 1]),
    st.floats(-2, 2, width=16),
    st.sampled_from([float(2**53), float("nan"), float("inf")]),
    st.sampled_from(["", "1", "a", "true", "é"]),
    st.sampled_from([b"", b"1", b"a", "é".encode()]),
    st.sampled_from([decimal.Decimal("1"), decimal.Decimal("1.0")]),
    st.just(datetime.datetime(1970, 1, 1, 0, 0, 1, tzinfo=datetime.UTC)),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=2),
    st.dictionaries(st.sampled_from(["k", "l"]), scalars, max_size=2),
)
header_tables = st.dictionaries(st.sampled_from(KEYS[:-1]), values, max_size=4)


@st.composite
def arguments(draw: st.DrawFn) -> dict[str, object]:
    table: dict[str, object] = draw(st.dictionaries(st.sampled_from(KEYS[:-1]), values, max_size=3))
    mode = draw(st.sampled_from([None, *MODES]))
    if mode is not None:
        table["x-match"] = mode
    return table


bindings = st.lists(
    st.tuples(st.sampled_from(["q1", "q2", "q3", "q4"]), st.sampled_from(["", "k"]), arguments()),
    max_size=12,
)


def linear_route(exchange: HeadersExchange[str], headers: dict[str, object] | None) -> set[str]:
    """The reference: every binding checked with the single-binding matcher."""
    terms = {key: to_term(value) for key, value in (headers or {}).items()}
    return {
        binding.destination
        for binding in exchange.bindings()
        if _Matcher.compile(binding.arguments).matches(terms)
    }


def check(exchange: HeadersExchange[str], messages: list[dict[str, object] | None]) -> None:
    for headers in messages:
        assert exchange.route("", headers) == linear_route(exchange, headers)


@settings(max_examples=400)
@given(bindings, st.lists(st.none() | header_tables, min_size=1, max_size=6), st.data())
def test_indexed_route_equals_linear_reference(
    bound: list[tuple[str, str, dict[str, object]]],
    messages: list[dict[str, object] | None],
    data: st.DataObject,
) -> None:
    exchange: HeadersExchange[str] = HeadersExchange()
    for destination, key, table in bound:
        exchange.bind(destination, key, table)
    # headers built from the bindings' own values, so that matches are frequent
    for _, _, table in bound:
        picked = data.draw(st.sets(st.sampled_from(sorted(table) or ["a"])))
        messages.append({key: table.get(key) for key in picked if key != "x-match"})
    check(exchange, messages)

    for binding in data.draw(st.lists(st.sampled_from(exchange.bindings() or [None]))):
        if binding is not None:
            exchange.unbind(binding.destination, binding.routing_key, binding.arguments_dict())
    check(exchange, messages)

    gone = data.draw(st.sampled_from(["q1", "q2", "q3", "q4"]))
    exchange.unbind_destination(gone)
    check(exchange, messages)

    for binding in exchange.bindings():
        assert exchange.unbind(binding.destination, binding.routing_key, binding.arguments_dict())
    assert exchange.route("", {}) == set()
    assert exchange._index.slot_count() == 0
    assert not list(exchange._index.filed())
