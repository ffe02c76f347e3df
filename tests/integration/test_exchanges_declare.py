# exchange.declare and exchange.delete over pika, checked against RabbitMQ 3.10.8's reply codes
# and texts: types, flags, passive declares, equivalence, reserved names and the default exchange.
from __future__ import annotations

from collections.abc import Iterator

import pika
import pika.exceptions
import pytest
from amqp_clients import vhost_of
from pika.adapters.blocking_connection import BlockingChannel

pytestmark = pytest.mark.timeout(5)


@pytest.fixture
def channel(amqp_url: str) -> Iterator[BlockingChannel]:
    with pika.BlockingConnection(pika.URLParameters(amqp_url)) as connection:
        yield connection.channel()


def _channel_error(call: object) -> pika.exceptions.ChannelClosedByBroker:
    """Run call() and return the channel close it must cause."""
    assert callable(call)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        call()
    return info.value


def _exists(url: str, name: str) -> bool:
    with pika.BlockingConnection(pika.URLParameters(url)) as connection:
        try:
            connection.channel().exchange_declare(name, passive=True)
        except pika.exceptions.ChannelClosedByBroker as error:
            assert error.reply_code == 404
            return False
        return True


@pytest.mark.parametrize("type_name", ["direct", "fanout", "topic", "headers"])
def test_declare_each_type_then_passive_declare_finds_it(
    amqp_url: str, channel: BlockingChannel, type_name: str
) -> None:
    channel.exchange_declare("x", exchange_type=type_name)
    channel.exchange_declare("x", exchange_type=type_name)  # equivalent redeclare
    assert isinstance(
        channel.exchange_declare("x", passive=True).method, pika.spec.Exchange.DeclareOk
    )
    assert _exists(amqp_url, "x")


@pytest.mark.parametrize(
    "name", ["amq.direct", "amq.fanout", "amq.topic", "amq.headers", "amq.match"]
)
def test_predeclared_exchanges_exist_in_a_fresh_vhost(channel: BlockingChannel, name: str) -> None:
    channel.exchange_declare(name, passive=True)


def test_passive_declare_of_missing_exchange_closes_channel_404(
    amqp_url: str, channel: BlockingChannel
) -> None:
    error = _channel_error(lambda: channel.exchange_declare("x", passive=True))
    assert error.reply_code == 404
    assert error.reply_text == f"NOT_FOUND - no exchange 'x' in vhost '{vhost_of(amqp_url)}'"


def test_redeclare_with_other_type_closes_channel_406(
    amqp_url: str, channel: BlockingChannel
) -> None:
    channel.exchange_declare("x", exchange_type="direct")
    error = _channel_error(lambda: channel.exchange_declare("x", exchange_type="fanout"))
    assert error.reply_code == 406
    assert error.reply_text == (
        f"PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'x' in vhost "
        f"'{vhost_of(amqp_url)}': received 'fanout' but current is 'direct'"
    )


_FLAG_CASES = [
    # flag, first declare, second declare, received, current
    ("durable", {"durable": True}, {}, "false", "true"),
    ("auto_delete", {}, {"auto_delete": True}, "true", "false"),
    ("internal", {"internal": True}, {}, "false", "true"),
]


@pytest.mark.parametrize("case", _FLAG_CASES, ids=[case[0] for case in _FLAG_CASES])
def test_redeclare_with_other_flag_closes_channel_406(
    amqp_url: str,
    channel: BlockingChannel,
    case: tuple[str, dict[str, bool], dict[str, bool], str, str],
) -> None:
    flag, first, second, received, current = case
    channel.exchange_declare("x", exchange_type="topic", **first)
    error = _channel_error(lambda: channel.exchange_declare("x", exchange_type="topic", **second))
    assert error.reply_code == 406
    assert error.reply_text == (
        f"PRECONDITION_FAILED - inequivalent arg '{flag}' for exchange 'x' in vhost "
        f"'{vhost_of(amqp_url)}': received '{received}' but current is '{current}'"
    )


def test_redeclare_with_other_alternate_exchange_closes_channel_406(
    channel: BlockingChannel,
) -> None:
    channel.exchange_declare("x", arguments={"alternate-exchange": "ae1"})
    error = _channel_error(
        lambda: channel.exchange_declare("x", arguments={"alternate-exchange": "ae2"})
    )
    assert error.reply_code == 406
    assert "inequivalent arg 'alternate-exchange' for exchange 'x'" in error.reply_text


def test_unknown_exchange_type_closes_connection_503(amqp_url: str) -> None:
    with pika.BlockingConnection(pika.URLParameters(amqp_url)) as connection:
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as info:
            channel.exchange_declare("x", exchange_type="bogus")
        assert info.value.reply_code == 503
        assert info.value.reply_text == "COMMAND_INVALID - unknown exchange type 'bogus'"
        assert connection.is_closed


def test_declare_with_reserved_amq_prefix_closes_channel_403(channel: BlockingChannel) -> None:
    error = _channel_error(lambda: channel.exchange_declare("amq.mine", exchange_type="direct"))
    assert error.reply_code == 403
    assert error.reply_text == (
        "ACCESS_REFUSED - exchange name 'amq.mine' contains reserved prefix 'amq.*'"
    )


def test_equivalent_redeclare_of_amq_direct_is_allowed(channel: BlockingChannel) -> None:
    channel.exchange_declare("amq.direct", exchange_type="direct", durable=True)
    channel.exchange_declare("amq.topic", exchange_type="topic", durable=True)


def test_redeclare_of_amq_direct_not_durable_is_406_before_403(
    amqp_url: str, channel: BlockingChannel
) -> None:
    error = _channel_error(lambda: channel.exchange_declare("amq.direct", durable=False))
    assert error.reply_code == 406
    assert error.reply_text == (
        f"PRECONDITION_FAILED - inequivalent arg 'durable' for exchange 'amq.direct' in vhost "
        f"'{vhost_of(amqp_url)}': received 'false' but current is 'true'"
    )


def test_publish_to_internal_exchange_closes_channel_403(
    amqp_url: str, channel: BlockingChannel
) -> None:
    channel.exchange_declare("x", exchange_type="direct", internal=True)
    channel.basic_publish("x", "k", b"nope")
    # the close arrives asynchronously; the next synchronous call sees it
    error = _channel_error(lambda: channel.queue_declare("after"))
    assert error.reply_code == 403
    assert error.reply_text == (
        f"ACCESS_REFUSED - cannot publish to internal exchange 'x' in vhost '{vhost_of(amqp_url)}'"
    )


def test_internal_exchange_still_receives_through_exchange_binding(
    channel: BlockingChannel,
) -> None:
    channel.exchange_declare("front", exchange_type="fanout")
    channel.exchange_declare("inner", exchange_type="fanout", internal=True)
    channel.exchange_bind(destination="inner", source="front")
    channel.queue_declare("q")
    channel.queue_bind("q", "inner")
    channel.basic_publish("front", "", b"via")
    _method, _properties, body = channel.basic_get("q", auto_ack=True)
    assert body == b"via"


def test_auto_delete_exchange_goes_when_last_queue_binding_is_removed(
    amqp_url: str, channel: BlockingChannel
) -> None:
    channel.exchange_declare("x", exchange_type="direct", auto_delete=True)
    channel.queue_declare("q")
    channel.queue_bind("q", "x", "a")
    channel.queue_bind("q", "x", "b")
    channel.queue_unbind("q", "x", "a")
    assert _exists(amqp_url, "x")
    channel.queue_unbind("q", "x", "b")
    assert not _exists(amqp_url, "x")


def test_auto_delete_exchange_goes_when_its_only_bound_queue_is_deleted(
    amqp_url: str, channel: BlockingChannel
) -> None:
    channel.exchange_declare("x", exchange_type="fanout", auto_delete=True)
    channel.queue_declare("q")
    channel.queue_bind("q", "x")
    channel.queue_delete("q")
    assert not _exists(amqp_url, "x")


def test_auto_delete_exchange_without_bindings_stays(
    amqp_url: str, channel: BlockingChannel
) -> None:
    channel.exchange_declare("x", exchange_type="fanout", auto_delete=True)
    assert _exists(amqp_url, "x")


def test_delete_if_unused_of_bound_exchange_closes_channel_406(
    amqp_url: str, channel: BlockingChannel
) -> None:
    channel.exchange_declare("x", exchange_type="fanout")
    channel.queue_declare("q")
    channel.queue_bind("q", "x")
    error = _channel_error(lambda: channel.exchange_delete("x", if_unused=True))
    assert error.reply_code == 406
    assert error.reply_text == (
        f"PRECONDITION_FAILED - exchange 'x' in vhost '{vhost_of(amqp_url)}' in use"
    )
    assert _exists(amqp_url, "x")


def test_delete_if_unused_ignores_bindings_where_exchange_is_destination(
    amqp_url: str, channel: BlockingChannel
) -> None:
    channel.exchange_declare("src", exchange_type="fanout")
    channel.exchange_declare("dst", exchange_type="fanout")
    channel.exchange_bind(destination="dst", source="src")
    channel.exchange_delete("dst", if_unused=True)
    assert not _exists(amqp_url, "dst")


def test_delete_removes_exchange_and_its_bindings(amqp_url: str, channel: BlockingChannel) -> None:
    channel.exchange_declare("x", exchange_type="fanout")
    channel.queue_declare("q")
    channel.queue_bind("q", "x")
    channel.exchange_delete("x")
    assert not _exists(amqp_url, "x")
    channel.exchange_declare("x", exchange_type="fanout")
    channel.basic_publish("x", "", b"after")
    assert channel.queue_declare("q", passive=True).method.message_count == 0


def test_delete_of_missing_exchange_succeeds(channel: BlockingChannel) -> None:
    method = channel.exchange_delete("never-declared").method
    assert isinstance(method, pika.spec.Exchange.DeleteOk)


def test_delete_of_default_exchange_closes_channel_403(channel: BlockingChannel) -> None:
    error = _channel_error(lambda: channel.exchange_delete(""))
    assert error.reply_code == 403
    assert error.reply_text == ("ACCESS_REFUSED - operation not permitted on the default exchange")


def test_delete_of_amq_exchange_closes_channel_403(amqp_url: str, channel: BlockingChannel) -> None:
    error = _channel_error(lambda: channel.exchange_delete("amq.fanout"))
    assert error.reply_code == 403
    assert error.reply_text == (
        f"ACCESS_REFUSED - deletion of system exchange 'amq.fanout' in vhost "
        f"'{vhost_of(amqp_url)}' not allowed"
    )


def test_queue_bind_to_default_exchange_closes_channel_403(channel: BlockingChannel) -> None:
    channel.queue_declare("q")
    error = _channel_error(lambda: channel.queue_bind("q", "", "q"))
    assert error.reply_code == 403
    assert error.reply_text == ("ACCESS_REFUSED - operation not permitted on the default exchange")


def test_default_exchange_routes_by_queue_name(channel: BlockingChannel) -> None:
    channel.queue_declare("alpha")
    channel.queue_declare("beta")
    channel.basic_publish("", "beta", b"to-beta")
    channel.basic_publish("", "gamma", b"to-nobody")
    assert channel.queue_declare("alpha", passive=True).method.message_count == 0
    _method, _properties, body = channel.basic_get("beta", auto_ack=True)
    assert body == b"to-beta"
    assert channel.basic_get("beta")[0] is None


def test_queue_bind_to_missing_exchange_closes_channel_404(
    amqp_url: str, channel: BlockingChannel
) -> None:
    channel.queue_declare("q")
    error = _channel_error(lambda: channel.queue_bind("q", "missing"))
    assert error.reply_code == 404
    assert error.reply_text == f"NOT_FOUND - no exchange 'missing' in vhost '{vhost_of(amqp_url)}'"


def test_queue_bind_of_missing_queue_closes_channel_404(
    amqp_url: str, channel: BlockingChannel
) -> None:
    error = _channel_error(lambda: channel.queue_bind("missing", "amq.direct"))
    assert error.reply_code == 404
    assert error.reply_text == f"NOT_FOUND - no queue 'missing' in vhost '{vhost_of(amqp_url)}'"


def test_passive_declare_of_default_exchange_closes_channel_403(channel: BlockingChannel) -> None:
    error = _channel_error(lambda: channel.exchange_declare("", passive=True))
    assert error.reply_code == 403
    assert error.reply_text == ("ACCESS_REFUSED - operation not permitted on the default exchange")


def test_passive_declare_ignores_type_and_flags(channel: BlockingChannel) -> None:
    channel.exchange_declare("x", exchange_type="topic", durable=True)
    channel.exchange_declare("x", exchange_type="bogus", passive=True, durable=False)


@pytest.mark.parametrize(("value", "type_name"), [(5, "signedint"), (True, "bool")])
def test_declare_with_non_string_alternate_exchange_closes_channel_406(
    amqp_url: str, channel: BlockingChannel, value: object, type_name: str
) -> None:
    error = _channel_error(
        lambda: channel.exchange_declare("x", arguments={"alternate-exchange": value})
    )
    assert error.reply_code == 406
    assert error.reply_text == (
        f"PRECONDITION_FAILED - invalid type '{type_name}' for arg 'alternate-exchange' in "
        f"exchange 'x' in vhost '{vhost_of(amqp_url)}'"
    )
    assert not _exists(amqp_url, "x")
