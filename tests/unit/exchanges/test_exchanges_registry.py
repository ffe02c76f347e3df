import pytest

from exchanges import (
    EXCHANGE_TYPES,
    DirectExchange,
    FanoutExchange,
    HeadersExchange,
    InvalidBinding,
    TopicExchange,
    UnknownExchangeType,
    create_exchange_type,
    validate_binding_arguments,
)


def test_registry_knows_exactly_the_four_types() -> None:
    assert dict(EXCHANGE_TYPES) == {
        "direct": DirectExchange,
        "fanout": FanoutExchange,
        "topic": TopicExchange,
        "headers": HeadersExchange,
    }


@pytest.mark.parametrize("type_name", ["direct", "fanout", "topic", "headers"])
def test_create_exchange_type_gives_fresh_empty_table(type_name: str) -> None:
    first = create_exchange_type(type_name)
    second = create_exchange_type(type_name)
    assert first is not second
    assert first.type_name == type_name
    assert len(first) == 0
    assert not first.has_bindings()
    assert first.bindings() == []
    assert first.route("") == set()


@pytest.mark.parametrize("type_name", ["x-delayed-message", "Direct", "", "match"])
def test_unknown_type_raises_with_its_name(type_name: str) -> None:
    with pytest.raises(UnknownExchangeType) as caught:
        create_exchange_type(type_name)
    assert caught.value.type_name == type_name


def test_registry_is_read_only() -> None:
    with pytest.raises(TypeError):
        EXCHANGE_TYPES["custom"] = DirectExchange  # type: ignore[index]


def test_validate_binding_arguments_checks_x_match_for_headers_only() -> None:
    validate_binding_arguments("headers", {"x-match": "any"})
    validate_binding_arguments("headers", None)
    with pytest.raises(InvalidBinding):
        validate_binding_arguments("headers", {"x-match": "bogus"})
    for type_name in ["direct", "fanout", "topic"]:
        validate_binding_arguments(type_name, {"x-match": "bogus"})


def test_validate_binding_arguments_rejects_unknown_type_and_bad_values() -> None:
    with pytest.raises(UnknownExchangeType):
        validate_binding_arguments("nope", None)
    with pytest.raises(TypeError):
        validate_binding_arguments("direct", {"a": object()})


@pytest.mark.parametrize("type_name", ["direct", "fanout", "topic", "headers"])
def test_every_type_shares_binding_bookkeeping(type_name: str) -> None:
    exchange = create_exchange_type(type_name)
    assert exchange.bind(("queue", "q"), "k", {"a": 1})
    assert not exchange.bind(("queue", "q"), "k", {"a": 1})
    assert exchange.bind(("queue", "q"), "k", {"a": True})
    assert exchange.bind(("exchange", "e"), "k")
    assert len(exchange) == 3
    assert exchange.unbind_destination(("queue", "q")) == 2
    assert [b.destination for b in exchange.bindings()] == [("exchange", "e")]
    assert exchange.unbind(("exchange", "e"), "k")
    assert not exchange.has_bindings()
