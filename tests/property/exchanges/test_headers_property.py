import math

from hypothesis import given, settings
from hypothesis import strategies as st

from exchanges import HeadersExchange

KEYS = ["a", "b", "c", "x-a", "x-b"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(-3, 3).filter(lambda f: not math.isnan(f)),
    st.sampled_from(["", "1", "a", "true"]),
    st.sampled_from([b"", b"1", b"a"]),
)
values = st.one_of(scalars, st.lists(scalars, max_size=2))
tables = st.dictionaries(st.sampled_from(KEYS), values, max_size=4)
plain_tables = st.dictionaries(st.sampled_from(["a", "b", "c"]), values, max_size=4)


def routes(arguments: dict[str, object], headers: dict[str, object] | None) -> bool:
    exchange: HeadersExchange[str] = HeadersExchange()
    exchange.bind("q", "", arguments)
    return exchange.route("", headers) == {"q"}


@settings(max_examples=300)
@given(tables, tables, st.sampled_from(["all", "any", "all-with-x", "any-with-x"]))
def test_mode_is_all_or_any_over_single_key_bindings(
    pattern: dict[str, object], headers: dict[str, object], mode: str
) -> None:
    considered = [key for key in pattern if mode.endswith("-with-x") or not key.startswith("x-")]
    singles = [routes({"x-match": mode, key: pattern[key]}, headers) for key in considered]
    combine = any if mode.startswith("any") else all
    assert routes({"x-match": mode, **pattern}, headers) == combine(singles)


@given(plain_tables, tables)
def test_with_x_changes_nothing_without_x_keys(
    pattern: dict[str, object], headers: dict[str, object]
) -> None:
    assert routes({"x-match": "all", **pattern}, headers) == routes(
        {"x-match": "all-with-x", **pattern}, headers
    )
    assert routes({"x-match": "any", **pattern}, headers) == routes(
        {"x-match": "any-with-x", **pattern}, headers
    )


@given(plain_tables, tables)
def test_all_is_the_default_mode(pattern: dict[str, object], headers: dict[str, object]) -> None:
    assert routes(pattern, headers) == routes({"x-match": "all", **pattern}, headers)


@given(plain_tables.filter(bool), tables)
def test_all_match_implies_any_match(
    pattern: dict[str, object], headers: dict[str, object]
) -> None:
    if routes({"x-match": "all", **pattern}, headers):
        assert routes({"x-match": "any", **pattern}, headers)


@given(plain_tables, tables)
def test_headers_containing_the_binding_always_match(
    pattern: dict[str, object], extra: dict[str, object]
) -> None:
    headers = {**extra, **pattern}
    assert routes({"x-match": "all", **pattern}, headers)
    if pattern:
        assert routes({"x-match": "any", **pattern}, headers)


@given(st.dictionaries(st.sampled_from(["x-a", "x-b", "x-c"]), values), st.none() | tables)
def test_binding_with_only_x_keys_matches_all_or_nothing(
    pattern: dict[str, object], headers: dict[str, object] | None
) -> None:
    assert routes({"x-match": "all", **pattern}, headers)
    assert not routes({"x-match": "any", **pattern}, headers)


@given(st.sampled_from(KEYS), st.booleans(), st.integers(-2, 2) | st.floats(-2, 2))
def test_bool_never_matches_a_number(key: str, flag: bool, number: float) -> None:
    assert not routes({"x-match": "all-with-x", key: flag}, {key: number})
    assert not routes({"x-match": "all-with-x", key: number}, {key: flag})


@given(st.text(max_size=5), st.sampled_from(["a", "x-a"]))
def test_str_matches_its_utf8_bytes(text: str, key: str) -> None:
    assert routes({"x-match": "all-with-x", key: text}, {key: text.encode()})
    assert routes({"x-match": "all-with-x", key: text.encode()}, {key: text})
