# The management API's pure pieces: JSON conversions, RabbitMQ's input rules, binding keys,
# listing parameters and rates.
from __future__ import annotations

import datetime
import decimal
from typing import Any

import pytest
from starlette.requests import Request

from amqp_broker.management.context import RateSampler, Totals
from amqp_broker.management.encoding import (
    decode_payload,
    encode_payload,
    parse_bool,
    properties_from_json,
    require,
    to_json,
)
from amqp_broker.management.errors import ApiError
from amqp_broker.management.resources import properties_key
from amqp_broker.management.routing import shape


def reason(error: pytest.ExceptionInfo[ApiError]) -> Any:
    return error.value.reason


def test_to_json_turns_amqp_values_into_plain_json() -> None:
    stamp = datetime.datetime(2024, 1, 2, tzinfo=datetime.UTC)
    value = {"b": b"text", "x": b"\xff", "t": stamp, "d": decimal.Decimal("1.5"), "l": (1, [2])}
    assert to_json(value) == {"b": "text", "x": "/w==", "t": 1704153600, "d": 1.5, "l": [1, [2]]}


@pytest.mark.parametrize(
    ("given", "expected"),
    [(True, True), ("true", True), ("false", False), (False, False), (None, False)],
)
def test_parse_bool_takes_booleans_and_their_strings(given: Any, expected: bool) -> None:
    assert parse_bool(given) is expected


def test_parse_bool_refuses_anything_else_with_rabbitmqs_term() -> None:
    with pytest.raises(ApiError) as error:
        parse_bool("yes")
    assert (error.value.status, reason(error)) == (400, ["not_boolean", "yes"])


def test_require_lists_every_missing_key_as_rabbitmq_does() -> None:
    with pytest.raises(ApiError) as error:
        require({"a": 1}, "a", "b", "c")
    assert reason(error) == "[{key_missing,b},\n {key_missing,c}]"


def test_properties_are_converted_and_unknown_names_refused() -> None:
    converted = properties_from_json(
        {"priority": "4", "timestamp": 0, "type": "t", "headers": {"k": 1}, "app_id": 7}
    )
    assert converted == {
        "priority": 4,
        "timestamp": datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC),
        "type": "t",
        "headers": {"k": 1},
        "app_id": "7",
    }
    assert properties_from_json([]) == {}
    with pytest.raises(ApiError) as error:
        properties_from_json({"colour": "red"})
    assert reason(error) == ["invalid_property", "colour"]


def test_payloads_decode_and_encode() -> None:
    assert decode_payload("aGk=", "base64") == b"hi"
    assert decode_payload("hé", "string") == "hé".encode()
    with pytest.raises(ApiError) as error:
        decode_payload("x", "rot13")
    assert reason(error) == ["unsupported_encoding", "rot13"]
    assert encode_payload(b"hi", "auto") == ("hi", "string")
    assert encode_payload(b"\xff", "auto") == ("/w==", "base64")
    assert encode_payload(b"hi", "base64") == ("aGk=", "base64")


def test_properties_key_is_rabbitmqs_for_bindings_without_arguments() -> None:
    assert properties_key("", {}) == "~"
    assert properties_key("a.#", {}) == "a.%23"
    with_args = properties_key("k", {"x-match": "all"})
    assert with_args.startswith("k~")
    assert with_args == properties_key("k", {"x-match": "all"})
    assert with_args != properties_key("k", {"x-match": "any"})


def request(query: str) -> Request:
    return Request({"type": "http", "query_string": query.encode(), "headers": []})


def test_shape_picks_dotted_columns_and_sorts() -> None:
    rows = [{"name": "b", "n": {"x": 2, "y": 0}}, {"name": "a", "n": {"x": 1}}, {"name": "c"}]
    assert shape(request("columns=name,n.x&sort=n.x"), rows) == [
        {"name": "c"},
        {"name": "a", "n": {"x": 1}},
        {"name": "b", "n": {"x": 2}},
    ]
    assert [row["name"] for row in shape(request("sort=name&sort_reverse=true"), rows)] == [
        "c",
        "b",
        "a",
    ]
    assert shape(request("columns=name"), {"name": "x", "other": 1}) == {"name": "x"}


def test_rates_come_from_the_last_two_samples() -> None:
    sampler = RateSampler()
    assert sampler.rate("publish") == 0.0
    sampler.sample(10.0, Totals(publish=100))
    sampler.sample(15.0, Totals(publish=150, ack=5))
    assert (sampler.rate("publish"), sampler.rate("ack")) == (10.0, 1.0)
