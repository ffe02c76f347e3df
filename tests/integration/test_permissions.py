# Permission checks on every operation that names a queue or exchange, with RabbitMQ's reply codes
# and texts. Every expectation here was measured on RabbitMQ 3.10.8 with the same setup: a user
# with configure '^c', write '^w', read '^r' on the test vhost, resources declared by guest.
from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pika
import pika.exceptions
import pytest
import rabbitpy
import rabbitpy.exceptions
from amqp_clients import connect, vhost_of
from pika.adapters.blocking_connection import BlockingChannel

from amqp_broker.testing import BrokerThread, vhost_url

_numbers = itertools.count(1)

Operation = Callable[[BlockingChannel], object]


def _publish(exchange: str) -> Operation:
    def publish(channel: BlockingChannel) -> None:
        channel.confirm_delivery()
        channel.basic_publish(exchange, "k", b"x")

    return publish


# (operation, refused resource or None when allowed) for a user with '^c' / '^w' / '^r'.
CASES: dict[str, tuple[Operation, str | None]] = {
    "queue.declare existing x1": (lambda ch: ch.queue_declare("x1"), "queue 'x1'"),
    "queue.declare existing c1": (lambda ch: ch.queue_declare("c1"), None),
    "queue.declare passive x1": (lambda ch: ch.queue_declare("x1", passive=True), None),
    "queue.declare new zz": (lambda ch: ch.queue_declare("zz"), "queue 'zz'"),
    "queue.declare c with dlx needs read on the queue": (
        lambda ch: ch.queue_declare("cdl", arguments={"x-dead-letter-exchange": "wx"}),
        "queue 'cdl'",
    ),
    "exchange.declare existing xx": (
        lambda ch: ch.exchange_declare("xx", "direct"),
        "exchange 'xx'",
    ),
    "exchange.declare new cnew": (lambda ch: ch.exchange_declare("cnew", "direct"), None),
    "exchange.declare passive xx": (
        lambda ch: ch.exchange_declare("xx", "direct", passive=True),
        None,
    ),
    "exchange.declare c with alternate needs read on itself": (
        lambda ch: ch.exchange_declare("cae", "direct", arguments={"alternate-exchange": "wx"}),
        "exchange 'cae'",
    ),
    "exchange.delete xx": (lambda ch: ch.exchange_delete("xx"), "exchange 'xx'"),
    "exchange.delete missing": (lambda ch: ch.exchange_delete("nothere"), "exchange 'nothere'"),
    "queue.delete x1": (lambda ch: ch.queue_delete("x1"), "queue 'x1'"),
    "queue.delete missing": (lambda ch: ch.queue_delete("nothere"), "queue 'nothere'"),
    "queue.purge x1": (lambda ch: ch.queue_purge("x1"), "queue 'x1'"),
    "queue.purge missing": (lambda ch: ch.queue_purge("nothere"), "queue 'nothere'"),
    "queue.purge r1": (lambda ch: ch.queue_purge("r1"), None),
    "queue.bind needs write on the queue": (
        lambda ch: ch.queue_bind("x1", "rx", "k"),
        "queue 'x1'",
    ),
    "queue.bind needs read on the exchange": (
        lambda ch: ch.queue_bind("w1", "xx", "k"),
        "exchange 'xx'",
    ),
    "queue.bind w1 to rx": (lambda ch: ch.queue_bind("w1", "rx", "k"), None),
    "queue.bind checks before existence": (
        lambda ch: ch.queue_bind("nq", "nx", "k"),
        "queue 'nq'",
    ),
    "queue.unbind needs write on the queue": (
        lambda ch: ch.queue_unbind("x1", "rx", "k"),
        "queue 'x1'",
    ),
    "queue.unbind needs read on the exchange": (
        lambda ch: ch.queue_unbind("w1", "xx", "k"),
        "exchange 'xx'",
    ),
    "exchange.bind needs read on the source": (
        lambda ch: ch.exchange_bind("wx", "xx", "k"),
        "exchange 'xx'",
    ),
    "exchange.bind needs write on the destination": (
        lambda ch: ch.exchange_bind("xx", "rx", "k"),
        "exchange 'xx'",
    ),
    "exchange.unbind needs write on the destination": (
        lambda ch: ch.exchange_unbind("xx", "rx", "k"),
        "exchange 'xx'",
    ),
    "basic.publish xx": (_publish("xx"), "exchange 'xx'"),
    "basic.publish wx": (_publish("wx"), None),
    "basic.publish default exchange is amq.default": (_publish(""), "exchange 'amq.default'"),
    "basic.publish missing": (_publish("nothere"), "exchange 'nothere'"),
    "basic.consume x1": (lambda ch: ch.basic_consume("x1", lambda *a: None), "queue 'x1'"),
    "basic.consume missing": (
        lambda ch: ch.basic_consume("nothere", lambda *a: None),
        "queue 'nothere'",
    ),
    "basic.consume r1": (lambda ch: ch.basic_consume("r1", lambda *a: None), None),
    "basic.get x1": (lambda ch: ch.basic_get("x1"), "queue 'x1'"),
    "basic.get missing": (lambda ch: ch.basic_get("nothere"), "queue 'nothere'"),
    "basic.get r1": (lambda ch: ch.basic_get("r1"), None),
}


@pytest.fixture
def limited_user(amqp_broker: BrokerThread, amqp_url: str) -> Iterator[tuple[str, str]]:
    """(url, user) for a user with configure '^c', write '^w', read '^r' on the test vhost."""
    vhost = vhost_of(amqp_url)
    user = f"alice-{next(_numbers)}"

    def add() -> None:
        amqp_broker.broker.users.put_user(user, password="secret")
        amqp_broker.broker.users.set_permissions(user, vhost, "^c", "^w", "^r")

    amqp_broker.call(add)
    with connect(amqp_url) as connection:
        channel = connection.channel()
        for queue in ("c1", "r1", "w1", "x1"):
            channel.queue_declare(queue)
        for exchange in ("cx", "rx", "wx", "xx"):
            channel.exchange_declare(exchange, "direct")
    assert amqp_broker.address is not None
    try:
        yield vhost_url(amqp_broker.address, vhost, user, "secret"), user
    finally:
        amqp_broker.call(lambda: amqp_broker.broker.users.delete_user(user))


@pytest.mark.parametrize("case", list(CASES))
def test_operation_checks_permission(limited_user: tuple[str, str], case: str) -> None:
    url, user = limited_user
    operation, refused = CASES[case]
    with connect(url) as connection:
        channel = connection.channel()
        if refused is None:
            operation(channel)
            return
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            operation(channel)
    assert info.value.reply_code == 403
    vhost = vhost_of(url)
    assert info.value.reply_text == (
        f"ACCESS_REFUSED - access to {refused} in vhost '{vhost}' refused for user '{user}'"
    )


def test_server_named_queue_is_checked_under_its_generated_name(
    limited_user: tuple[str, str],
) -> None:
    url, user = limited_user
    with connect(url) as connection, pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        connection.channel().queue_declare("")
    assert info.value.reply_code == 403
    assert info.value.reply_text.startswith("ACCESS_REFUSED - access to queue 'amq.gen-")
    assert info.value.reply_text.endswith(f"' in vhost '{vhost_of(url)}' refused for user '{user}'")


def test_binding_the_default_exchange_is_refused_before_read_is_checked(
    limited_user: tuple[str, str],
) -> None:
    url, _ = limited_user
    with connect(url) as connection, pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        connection.channel().queue_bind("w1", "", "k")
    assert info.value.reply_code == 403
    text = info.value.reply_text
    assert text == "ACCESS_REFUSED - operation not permitted on the default exchange"


def test_empty_permissions_allow_opening_the_vhost_but_nothing_else(
    amqp_broker: BrokerThread, amqp_url: str
) -> None:
    vhost = vhost_of(amqp_url)
    user = f"bob-{next(_numbers)}"

    def add() -> None:
        amqp_broker.broker.users.put_user(user, password="pw")
        amqp_broker.broker.users.set_permissions(user, vhost, "", "", "")

    amqp_broker.call(add)
    assert amqp_broker.address is not None
    url = vhost_url(amqp_broker.address, vhost, user, "pw")
    try:
        with connect(url) as connection:
            with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
                _publish("amq.direct")(connection.channel())
            assert info.value.reply_text == (
                f"ACCESS_REFUSED - access to exchange 'amq.direct' in vhost '{vhost}' "
                f"refused for user '{user}'"
            )
    finally:
        amqp_broker.call(lambda: amqp_broker.broker.users.delete_user(user))


def test_user_without_permissions_on_a_vhost_gets_530(
    amqp_broker: BrokerThread, amqp_url: str
) -> None:
    vhost = vhost_of(amqp_url)
    user = f"carol-{next(_numbers)}"
    amqp_broker.call(lambda: amqp_broker.broker.users.put_user(user, password="pw"))
    assert amqp_broker.address is not None
    try:
        with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as info:
            connect(vhost_url(amqp_broker.address, vhost, user, "pw"))
        assert f"(530) \"NOT_ALLOWED - access to vhost '{vhost}' refused for user '{user}'\"" in (
            str(info.value)
        )
    finally:
        amqp_broker.call(lambda: amqp_broker.broker.users.delete_user(user))


def test_wrong_password_is_refused_with_rabbitmq_text(
    amqp_broker: BrokerThread, amqp_url: str
) -> None:
    user = f"dave-{next(_numbers)}"
    amqp_broker.call(lambda: amqp_broker.broker.users.put_user(user, password="right"))
    assert amqp_broker.address is not None
    try:
        with pytest.raises(pika.exceptions.ProbableAuthenticationError) as info:
            connect(vhost_url(amqp_broker.address, vhost_of(amqp_url), user, "wrong"))
        assert (
            "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. "
            "For details see the broker logfile." in str(info.value)
        )
    finally:
        amqp_broker.call(lambda: amqp_broker.broker.users.delete_user(user))


@pytest.mark.parametrize("attempt", range(10))
def test_rabbitpy_sees_the_403_of_a_refused_login(
    amqp_broker: BrokerThread, amqp_url: str, attempt: int
) -> None:
    """rabbitpy reads the Close on its own I/O thread: had the socket closed right behind the
    frame, it reported a connection reset instead (its own integration suite checks this)."""
    assert amqp_broker.address is not None
    url = vhost_url(amqp_broker.address, vhost_of(amqp_url), f"nobody-{attempt}", "wrong")
    with pytest.raises(rabbitpy.exceptions.AMQPAccessRefused):
        rabbitpy.Connection(url)


@pytest.mark.parametrize("change", ["set", "clear"])
def test_publish_on_an_open_channel_sees_a_permission_change(
    amqp_broker: BrokerThread, limited_user: tuple[str, str], change: str
) -> None:
    """Channels cache the write check of their publishes; changing the user's permissions must
    still take effect on the next publish of a channel already open."""
    url, user = limited_user
    vhost = vhost_of(url)
    users = amqp_broker.broker.users
    with connect(url) as connection:
        channel = connection.channel()
        for _ in range(3):
            _publish("wx")(channel)  # allowed, and now cached
        if change == "set":
            amqp_broker.call(lambda: users.set_permissions(user, vhost, "^c", "^z", "^r"))
        else:
            amqp_broker.call(lambda: users.clear_permissions(user, vhost))
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            _publish("wx")(channel)
    assert info.value.reply_code == 403
    assert info.value.reply_text == (
        f"ACCESS_REFUSED - access to exchange 'wx' in vhost '{vhost}' refused for user '{user}'"
    )
