# The testing toolkit's faults and resets over HTTP (/api/testing/, ours, not RabbitMQ's), as a
# test in another process would use them, observed through a real pika client.
from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pika
import pika.exceptions
import pytest

from amqp_broker.auth import hash_password
from amqp_broker.config import DEFAULT_USERS, BrokerConfig, User, UserPermission
from amqp_broker.testing import BrokerThread
from tests.integration.amqp_clients import connect
from tests.integration.management_http import Http, quote


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerThread]:
    config = BrokerConfig(
        port=0,
        management_port=0,
        users=(*DEFAULT_USERS, User("manager", hash_password("pw"), ("management",))),
        permissions=(UserPermission("guest", "/"), UserPermission("manager", "/")),
    )
    with BrokerThread(config) as running:
        yield running


@pytest.fixture(scope="module")
def http(broker: BrokerThread) -> Http:
    assert broker.management_url is not None
    return Http(broker.management_url)


def only_connection(http: Http) -> str:
    listed = http.get("/api/connections").body
    assert len(listed) == 1, listed
    return str(listed[0]["name"])


def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def ready(http: Http, queue: str) -> int:
    return int(http.get(f"/api/queues/%2F/{quote(queue)}").body.get("messages_ready", 0))


def test_drop_resets_the_socket_without_an_amqp_close(broker: BrokerThread, http: Http) -> None:
    connection = connect(broker.url)
    name = only_connection(http)
    assert http.post(f"/api/testing/connections/{quote(name)}/drop").status == 204
    with pytest.raises(pika.exceptions.AMQPConnectionError) as lost:
        connection.process_data_events(time_limit=2)
    assert not isinstance(lost.value, pika.exceptions.ConnectionClosedByBroker)
    eventually(lambda: http.get("/api/connections").body == [], "the connection is gone")
    assert http.post(f"/api/testing/connections/{quote(name)}/drop").status == 404


def test_a_frozen_connection_is_not_read_until_thawed(broker: BrokerThread, http: Http) -> None:
    connection = connect(broker.url)
    try:
        channel = connection.channel()
        channel.queue_declare("frozen-input")
        name = only_connection(http)
        assert http.post(f"/api/testing/connections/{quote(name)}/freeze").status == 204
        channel.basic_publish("", "frozen-input", b"held")
        connection.process_data_events(time_limit=0.2)
        assert ready(http, "frozen-input") == 0
        assert http.post(f"/api/testing/connections/{quote(name)}/thaw").status == 204
        eventually(lambda: ready(http, "frozen-input") == 1, "the held publish arrives")
    finally:
        connection.close()


def test_blocking_publishers_sends_connection_blocked_and_unblocked(
    broker: BrokerThread, http: Http
) -> None:
    connection = connect(broker.url)
    seen: list[str] = []
    connection.add_on_connection_blocked_callback(lambda *_: seen.append("blocked"))
    connection.add_on_connection_unblocked_callback(lambda *_: seen.append("unblocked"))
    try:
        channel = connection.channel()
        channel.basic_publish("", "anything", b"makes it a publisher")
        assert http.put("/api/testing/block-publishers").status == 204
        eventually(lambda: connection.process_data_events(0.05) or seen == ["blocked"], "blocked")
        assert http.delete("/api/testing/block-publishers").status == 204
        eventually(
            lambda: connection.process_data_events(0.05) or seen == ["blocked", "unblocked"],
            "unblocked",
        )
    finally:
        connection.close()


def test_reset_deletes_queues_and_exchanges_but_not_the_predeclared(
    broker: BrokerThread, http: Http
) -> None:
    connection = connect(broker.url)
    try:
        channel = connection.channel()
        channel.exchange_declare("orders", "topic")
        channel.queue_declare("to-reset")
        channel.queue_bind("to-reset", "orders", "#")
    finally:
        connection.close()
    assert http.post("/api/testing/vhosts/%2F/reset").status == 204
    assert http.get("/api/queues/%2F").body == []
    names = {exchange["name"] for exchange in http.get("/api/exchanges/%2F").body}
    assert "orders" not in names
    assert {"", "amq.direct", "amq.topic", "amq.fanout", "amq.headers"} <= names
    assert http.post("/api/testing/vhosts/nowhere/reset").status == 404


def test_faults_are_for_administrators_only(http: Http) -> None:
    manager = http.as_user("manager", "pw")
    assert manager.put("/api/testing/block-publishers").status == 401
    assert manager.post("/api/testing/vhosts/%2F/reset").status == 401
