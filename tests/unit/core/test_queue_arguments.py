# Queue and consumer argument checks, with the reply texts RabbitMQ 3.10.8 sends (measured on a
# private node; pika sends integers as signedint, floats as double).
from __future__ import annotations

from typing import Any

import pytest

from amqp_broker.core.queue_arguments import (
    Overflow,
    QueueOptions,
    check_queue_type_properties,
    check_server_named,
    consumer_priority,
    parse_queue_arguments,
)
from amqp_broker.errors import AMQPError, ReplyCode

RESOURCE = "queue 'q' in vhost '/'"


def _error(arguments: dict[str, Any]) -> str:
    with pytest.raises(AMQPError) as caught:
        parse_queue_arguments(arguments, RESOURCE)
    assert caught.value.code == ReplyCode.PRECONDITION_FAILED
    return caught.value.detail


def test_no_arguments_give_defaults() -> None:
    assert parse_queue_arguments({}, RESOURCE) == QueueOptions()


def test_every_option_is_parsed() -> None:
    options = parse_queue_arguments(
        {
            "x-message-ttl": 100,
            "x-expires": 2000,
            "x-max-length": 3,
            "x-max-length-bytes": 4096,
            "x-overflow": "reject-publish-dlx",
            "x-dead-letter-exchange": "dlx",
            "x-dead-letter-routing-key": "dead",
            "x-single-active-consumer": True,
            "x-max-priority": 5,
            "x-unknown": "ignored",
        },
        RESOURCE,
    )
    assert options == QueueOptions(
        max_priority=5,
        message_ttl=100,
        expires=2000,
        max_length=3,
        max_length_bytes=4096,
        overflow=Overflow.REJECT_PUBLISH_DLX,
        dead_letter_exchange="dlx",
        dead_letter_routing_key="dead",
        single_active_consumer=True,
    )


@pytest.mark.parametrize(
    ("key", "value", "term"),
    [
        ("x-message-ttl", -1, "{value_negative,-1}"),
        ("x-message-ttl", "100", '"expected integer, got longstr"'),
        ("x-message-ttl", 1.5, '"expected integer, got double"'),
        ("x-message-ttl", True, '"expected integer, got bool"'),
        ("x-message-ttl", 315360000001, "{value_too_large,315360000001}"),
        ("x-expires", 0, "{value_zero,0}"),
        ("x-expires", -5, "{value_negative,-5}"),
        ("x-expires", "1", '"expected integer, got longstr"'),
        ("x-expires", 2**40, "{value_too_large,1099511627776}"),
        ("x-max-length", -1, "{value_negative,-1}"),
        ("x-max-length", 1.5, '"expected integer, got double"'),
        ("x-max-length-bytes", b"1", '"expected integer, got binary"'),
        ("x-overflow", "bogus", "invalid_overflow"),
        ("x-overflow", 1, "{unacceptable_type,signedint}"),
        ("x-single-active-consumer", 1, "{unacceptable_type,signedint}"),
        ("x-single-active-consumer", "true", "{unacceptable_type,longstr}"),
        ("x-max-priority", 256, "{max_value_exceeded,256}"),
        ("x-max-priority", -1, "{value_negative,-1}"),
        ("x-max-priority", "1", '"expected integer, got longstr"'),
        ("x-queue-mode", "eager", "\"unsupported queue mode 'eager'\""),
        ("x-queue-mode", 1, "{unacceptable_type,signedint}"),
        ("x-queue-type", "bogus", "\"unsupported queue type 'bogus'\""),
        ("x-queue-version", 3, "\"unsupported queue version '3'\""),
        ("x-queue-version", "2", '"expected integer, got longstr"'),
    ],
)
def test_invalid_argument_gives_rabbitmq_text(key: str, value: Any, term: str) -> None:
    assert _error({key: value}) == f"invalid arg '{key}' for {RESOURCE}: {term}"


def test_routing_key_without_exchange() -> None:
    assert _error({"x-dead-letter-routing-key": "k"}) == (
        f"invalid arg 'x-dead-letter-routing-key' for {RESOURCE}: routing_key_but_no_dlx_defined"
    )
    assert _error({"x-dead-letter-exchange": "d", "x-dead-letter-routing-key": 1}) == (
        f"invalid arg 'x-dead-letter-routing-key' for {RESOURCE}: {{unacceptable_type,signedint}}"
    )


def test_largest_ttl_is_ten_years() -> None:
    options = parse_queue_arguments({"x-message-ttl": 315360000000}, RESOURCE)
    assert options.message_ttl == 315360000000


def test_dead_letter_exchange_of_wrong_type_uses_the_channel_text() -> None:
    assert _error({"x-dead-letter-exchange": 5}) == (
        "invalid type 'signedint' for arg 'x-dead-letter-exchange' in queue 'q' in vhost '/'"
    )


def test_first_invalid_argument_in_rabbitmq_order_is_reported() -> None:
    # declare_args() checks x-expires before x-message-ttl, whatever the table order
    assert "'x-expires'" in _error({"x-message-ttl": -1, "x-expires": 0})


def test_consumer_priority() -> None:
    assert consumer_priority({}, RESOURCE) == 0
    assert consumer_priority({"x-priority": -3}, RESOURCE) == -3
    with pytest.raises(AMQPError) as caught:
        consumer_priority({"x-priority": "high"}, RESOURCE)
    assert caught.value.detail == (
        "invalid arg 'x-priority' for queue 'q' in vhost '/': \"expected integer, got longstr\""
    )


def test_cancel_on_ha_failover_must_be_a_bool() -> None:
    assert consumer_priority({"x-cancel-on-ha-failover": True}, RESOURCE) == 0
    with pytest.raises(AMQPError) as caught:
        consumer_priority({"x-cancel-on-ha-failover": 1}, RESOURCE)
    assert caught.value.detail == (
        f"invalid arg 'x-cancel-on-ha-failover' for {RESOURCE}: {{unacceptable_type,signedint}}"
    )


@pytest.mark.parametrize(
    ("kind", "arguments", "refused"),
    [
        ("quorum", {"x-max-priority": 5}, "x-max-priority"),
        ("quorum", {"x-queue-mode": "lazy", "x-max-priority": 5}, "x-queue-mode"),  # table order
        ("quorum", {"x-queue-version": 2}, "x-queue-version"),
        ("quorum", {"x-max-age": "1D"}, "x-max-age"),
        ("stream", {"x-message-ttl": -1}, "x-message-ttl"),  # refused before its value is checked
        ("stream", {"x-dead-letter-routing-key": "k"}, "x-dead-letter-routing-key"),
        ("stream", {"x-max-length": 5}, "x-max-length"),
        ("stream", {"x-single-active-consumer": True}, "x-single-active-consumer"),
        ("classic", {"x-delivery-limit": 3}, "x-delivery-limit"),
        ("classic", {"x-queue-leader-locator": "client-local"}, "x-queue-leader-locator"),
    ],
)
def test_an_argument_the_queue_type_does_not_take_is_refused(
    kind: str, arguments: dict[str, Any], refused: str
) -> None:
    assert _error({"x-queue-type": kind, **arguments}) == (
        f"invalid arg '{refused}' for {RESOURCE} of queue type rabbit_{kind}_queue"
    )


def test_each_type_takes_its_own_arguments_and_ignores_unknown_ones() -> None:
    quorum = {"x-queue-type": "quorum", "x-delivery-limit": 3, "x-max-length": 2, "x-foo": 1}
    assert parse_queue_arguments(quorum, RESOURCE).max_length == 2
    stream = {"x-queue-type": "stream", "x-max-age": "1D", "x-max-length-bytes": 10}
    assert parse_queue_arguments(stream, RESOURCE).max_length_bytes == 10


def test_a_bad_value_the_type_takes_is_reported_before_a_key_it_does_not() -> None:
    arguments = {"x-queue-type": "quorum", "x-message-ttl": -1, "x-max-priority": 1}
    assert _error(arguments).endswith(
        "invalid arg 'x-message-ttl' for " + RESOURCE + ": {value_negative,-1}"
    )


@pytest.mark.parametrize(
    ("flags", "prop"),
    [
        ({"durable": False}, "non-durable"),
        ({"exclusive": True}, "exclusive-owner"),
        ({"auto_delete": True}, "auto-delete"),
        ({"durable": False, "exclusive": True, "auto_delete": True}, "auto-delete"),
        ({"durable": False, "exclusive": True}, "exclusive-owner"),
    ],
)
@pytest.mark.parametrize("kind", ["quorum", "stream"])
def test_quorum_and_stream_queues_are_durable_shared_and_kept(
    kind: str, flags: dict[str, bool], prop: str
) -> None:
    settings = {"durable": True, "exclusive": False, "auto_delete": False, **flags}
    with pytest.raises(AMQPError) as info:
        check_queue_type_properties(RESOURCE, {"x-queue-type": kind}, **settings)
    assert info.value.text == f"PRECONDITION_FAILED - invalid property '{prop}' for {RESOURCE}"
    check_queue_type_properties(RESOURCE, {}, **settings)  # a classic queue may be anything


def test_only_classic_queues_are_server_named() -> None:
    check_server_named({})
    check_server_named({"x-queue-type": "classic"})
    with pytest.raises(AMQPError) as info:
        check_server_named({"x-queue-type": "stream"})
    assert info.value.code == ReplyCode.PRECONDITION_FAILED
    assert info.value.text == (
        "PRECONDITION_FAILED - Cannot declare a server-named queue for type rabbit_stream_queue"
    )
