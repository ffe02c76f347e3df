# The management HTTP API over real HTTP, with pika clients on the same broker: what an operator
# or a test helper does through the API must behave as the same action over AMQP would.
from __future__ import annotations

import itertools
from collections.abc import Iterator

import pika
import pika.exceptions
import pytest

from amqp_broker.auth import hash_password
from amqp_broker.config import DEFAULT_USERS, BrokerConfig, User, UserPermission
from amqp_broker.testing import BrokerThread
from tests.integration.amqp_clients import connect
from tests.integration.management_http import Http, quote

_names = itertools.count(1)
USERS = (
    *DEFAULT_USERS,
    User("monitor", hash_password("pw"), ("monitoring",)),
    User("manager", hash_password("pw"), ("management",)),
    User("plain", hash_password("pw"), ()),
    User("scoped", hash_password("pw"), ("management",)),
)


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerThread]:
    config = BrokerConfig(
        port=0,
        management_port=0,
        users=USERS,
        permissions=(
            UserPermission("guest", "/"),
            UserPermission("manager", "/"),
            UserPermission("scoped", "/", "^mine-", "^mine-", "^mine-"),
        ),
    )
    with BrokerThread(config) as running:
        yield running


@pytest.fixture(scope="module")
def http(broker: BrokerThread) -> Http:
    assert broker.management_url is not None
    return Http(broker.management_url)


@pytest.fixture
def vhost(http: Http) -> Iterator[str]:
    name = f"mgmt-{next(_names)}"
    assert http.put(f"/api/vhosts/{name}").status == 201
    yield name
    http.delete(f"/api/vhosts/{name}")


def amqp(broker: BrokerThread, vhost: str) -> pika.BlockingConnection:
    return connect(broker.url_for(vhost))


# ---- authentication --------------------------------------------------------------------------


def test_request_without_credentials_gets_a_basic_challenge(http: Http) -> None:
    reply = http.as_user(None).get("/api/overview")
    assert reply.status == 401
    assert reply.headers["www-authenticate"].startswith("Basic ")


def test_wrong_password_is_401_login_failed(http: Http) -> None:
    reply = http.as_user("guest", "nope").get("/api/overview")
    assert (reply.status, reply.body) == (
        401,
        {"error": "not_authorized", "reason": "Login failed"},
    )


def test_user_without_a_management_tag_is_refused(http: Http) -> None:
    reply = http.as_user("plain", "pw").get("/api/whoami")
    assert (reply.status, reply.body) == (
        401,
        {"error": "not_authorised", "reason": "Not management user"},
    )


def test_management_user_cannot_list_users(http: Http) -> None:
    manager = http.as_user("manager", "pw")
    assert manager.get("/api/whoami").body == {"name": "manager", "tags": ["management"]}
    reply = manager.get("/api/users")
    assert (reply.status, reply.body["reason"]) == (401, "Not administrator user")


def test_management_user_sees_only_vhosts_it_may_open(http: Http, vhost: str) -> None:
    names = {entry["name"] for entry in http.as_user("manager", "pw").get("/api/vhosts").body}
    assert "/" in names
    assert vhost not in names
    assert vhost in {entry["name"] for entry in http.get("/api/vhosts").body}


def test_operations_need_the_callers_permissions(http: Http) -> None:
    scoped = http.as_user("scoped", "pw")
    refused = {"error": "not_authorised", "reason": "Access refused."}
    assert scoped.put("/api/queues/%2F/mine-q").status == 201
    assert (
        scoped.put("/api/queues/%2F/theirs").status,
        scoped.put("/api/queues/%2F/theirs").body,
    ) == (
        401,
        refused,
    )
    assert scoped.post("/api/bindings/%2F/e/amq.direct/q/mine-q").body == refused
    message = {
        "routing_key": "mine-q",
        "properties": {},
        "payload": "x",
        "payload_encoding": "string",
    }
    assert scoped.post("/api/exchanges/%2F/amq.default/publish", message).body == {
        "error": "bad_request",
        "reason": "403 ACCESS_REFUSED - access to exchange 'amq.default' in vhost '/' refused "
        "for user 'scoped'",
    }
    assert scoped.delete("/api/queues/%2F/mine-q").status == 204


# ---- overview, listing -------------------------------------------------------------------------


def test_overview_counts_objects_and_messages(broker: BrokerThread, http: Http, vhost: str) -> None:
    connection = amqp(broker, vhost)
    channel = connection.channel()
    channel.queue_declare("counted")
    for body in (b"a", b"b"):
        channel.basic_publish("", "counted", body)
    overview = http.get("/api/overview").body
    connection.close()
    assert (overview["product_name"], overview["product_version"]) == ("RabbitMQ", "3.10.8")
    assert overview["object_totals"]["queues"] >= 1
    assert overview["object_totals"]["connections"] >= 1
    assert overview["queue_totals"]["messages_ready"] >= 2
    assert overview["message_stats"]["publish"] >= 2
    assert {"rate"} == set(overview["message_stats"]["publish_details"])
    amqp_listener = next(item for item in overview["listeners"] if item["protocol"] == "amqp")
    assert amqp_listener["port"] == broker.port


def test_queue_shows_ready_unacked_and_consumers(
    broker: BrokerThread, http: Http, vhost: str
) -> None:
    connection = amqp(broker, vhost)
    channel = connection.channel()
    channel.queue_declare("work")
    for body in (b"1", b"2", b"3"):
        channel.basic_publish("", "work", body)
    channel.basic_qos(prefetch_count=1)
    channel.basic_consume("work", lambda *args: None, consumer_tag="worker")
    connection.process_data_events(time_limit=0.2)
    queue = http.get(f"/api/queues/{quote(vhost)}/work").body
    consumers = http.get(f"/api/consumers/{quote(vhost)}").body
    channels = http.get(f"/api/vhosts/{quote(vhost)}/channels").body
    connection.close()
    assert queue["messages"] == 3
    assert queue["messages_ready"] == 2
    assert queue["messages_unacknowledged"] == 1
    assert queue["consumers"] == 1
    assert [consumer["consumer_tag"] for consumer in consumers] == ["worker"]
    assert consumers[0]["queue"] == {"name": "work", "vhost": vhost}
    assert consumers[0]["prefetch_count"] == 1
    assert [channel["messages_unacknowledged"] for channel in channels] == [1]


def test_listing_a_missing_vhost_or_queue_is_404_object_not_found(http: Http) -> None:
    for path in ("/api/queues/nope", "/api/queues/%2F/nope", "/api/nothing/here"):
        reply = http.get(path)
        assert (reply.status, reply.body) == (
            404,
            {"error": "Object Not Found", "reason": "Not Found"},
        ), path


def test_columns_and_sort_shape_listings(broker: BrokerThread, http: Http, vhost: str) -> None:
    for name in ("b", "c", "a"):
        assert http.put(f"/api/queues/{quote(vhost)}/{name}").status == 201
    reply = http.get(f"/api/queues/{quote(vhost)}?columns=name,vhost&sort=name&sort_reverse=true")
    assert reply.body == [{"name": name, "vhost": vhost} for name in ("c", "b", "a")]
    overview = http.get("/api/overview?columns=object_totals.queues,rabbitmq_version").body
    assert set(overview) == {"object_totals", "rabbitmq_version"}
    assert set(overview["object_totals"]) == {"queues"}


# ---- declaring and deleting --------------------------------------------------------------------


def test_declare_exchange_queue_and_binding_then_route(
    broker: BrokerThread, http: Http, vhost: str
) -> None:
    v = quote(vhost)
    assert http.put(f"/api/exchanges/{v}/logs", {"type": "topic"}).status == 201
    assert http.put(f"/api/exchanges/{v}/logs", {"type": "topic"}).status == 204
    assert http.put(f"/api/queues/{v}/errors", {"durable": "true"}).status == 201
    reply = http.post(f"/api/bindings/{v}/e/logs/q/errors", {"routing_key": "*.error"})
    assert reply.status == 201
    bindings = http.get(f"/api/bindings/{v}/e/logs/q/errors").body
    assert [(b["routing_key"], b["properties_key"]) for b in bindings] == [("*.error", "%2A.error")]
    published = http.post(
        f"/api/exchanges/{v}/logs/publish",
        {"routing_key": "db.error", "properties": {}, "payload": "x", "payload_encoding": "string"},
    )
    assert published.body == {"routed": True}
    assert http.get(f"/api/queues/{v}/errors").body["messages_ready"] == 1
    assert http.delete(f"/api/bindings/{v}/e/logs/q/errors/%252A.error").status == 204
    assert http.get(f"/api/bindings/{v}/e/logs/q/errors").body == []
    assert http.delete(f"/api/exchanges/{v}/logs").status == 204
    assert http.delete(f"/api/exchanges/{v}/logs").status == 404


def test_redeclare_with_other_flags_is_400_with_rabbitmq_text(http: Http, vhost: str) -> None:
    v = quote(vhost)
    assert http.put(f"/api/queues/{v}/q", {"durable": True}).status == 201
    reply = http.put(f"/api/queues/{v}/q", {"durable": False})
    assert reply.status == 400
    assert reply.body == {
        "error": "bad_request",
        "reason": f"inequivalent arg 'durable' for queue 'q' in vhost '{vhost}': "
        "received 'false' but current is 'true'",
    }
    assert http.put(f"/api/queues/{v}/q", {"durable": "maybe"}).body == {
        "error": "bad_request",
        "reason": ["not_boolean", "maybe"],
    }


def test_reserved_names_are_401_access_refused(http: Http, vhost: str) -> None:
    v = quote(vhost)
    for reply in (
        http.put(f"/api/queues/{v}/amq.mine"),
        http.delete(f"/api/exchanges/{v}/amq.direct"),
    ):
        assert (reply.status, reply.body) == (
            401,
            {"error": "not_authorised", "reason": "Access refused."},
        )


def test_delete_queue_cancels_its_consumers(broker: BrokerThread, http: Http, vhost: str) -> None:
    connection = amqp(broker, vhost)
    channel = connection.channel()
    channel.queue_declare("doomed")
    cancelled: list[object] = []
    channel.basic_consume("doomed", lambda *args: None)
    channel.add_on_cancel_callback(cancelled.append)
    assert http.delete(f"/api/queues/{quote(vhost)}/doomed").status == 204
    connection.process_data_events(time_limit=0.5)
    connection.close()
    assert len(cancelled) == 1
    assert http.get(f"/api/queues/{quote(vhost)}/doomed").status == 404


# ---- messages ----------------------------------------------------------------------------------


def test_publish_through_the_api_reaches_a_consumer(
    broker: BrokerThread, http: Http, vhost: str
) -> None:
    connection = amqp(broker, vhost)
    channel = connection.channel()
    channel.queue_declare("inbox")
    got: list[tuple[bytes, pika.BasicProperties]] = []
    channel.basic_consume(
        "inbox", lambda ch, method, props, body: got.append((body, props)), auto_ack=True
    )
    reply = http.post(
        f"/api/exchanges/{quote(vhost)}/amq.default/publish",
        {
            "routing_key": "inbox",
            "properties": {"content_type": "text/plain", "headers": {"k": "v"}, "priority": "3"},
            "payload": "aGVsbG8=",
            "payload_encoding": "base64",
        },
    )
    assert reply.body == {"routed": True}
    connection.process_data_events(time_limit=0.5)
    connection.close()
    assert [body for body, _ in got] == [b"hello"]
    properties = got[0][1]
    assert (properties.content_type, properties.headers, properties.priority) == (
        "text/plain",
        {"k": "v"},
        3,
    )


def test_publish_errors_are_rabbitmqs(http: Http, vhost: str) -> None:
    v = quote(vhost)
    message = {"routing_key": "k", "properties": {}, "payload": "x", "payload_encoding": "string"}
    assert http.post(f"/api/exchanges/{v}/nope/publish", message).body == {
        "error": "bad_request",
        "reason": f"404 NOT_FOUND - no exchange 'nope' in vhost '{vhost}'",
    }
    assert http.post(f"/api/exchanges/{v}/amq.direct/publish", message).body == {"routed": False}
    missing = http.post(f"/api/exchanges/{v}/amq.direct/publish", {"routing_key": "k"})
    assert (missing.status, missing.body["reason"]) == (
        400,
        "[{key_missing,properties},\n {key_missing,payload},\n {key_missing,payload_encoding}]",
    )
    internal = http.post(f"/api/exchanges/{v}/amq.rabbitmq.trace/publish", message)
    assert internal.body["reason"].startswith("403 ACCESS_REFUSED - cannot publish to internal")


def test_get_with_requeue_peeks_and_marks_messages_redelivered(
    broker: BrokerThread, http: Http, vhost: str
) -> None:
    connection = amqp(broker, vhost)
    channel = connection.channel()
    channel.queue_declare("peek")
    channel.basic_publish("", "peek", b"first", pika.BasicProperties(app_id="me"))
    channel.basic_publish("", "peek", b"\xff\x00")
    reply = http.post(
        f"/api/queues/{quote(vhost)}/peek/get",
        {"count": 5, "ackmode": "ack_requeue_true", "encoding": "auto"},
    )
    assert reply.body == [
        {
            "payload_bytes": 5,
            "redelivered": False,
            "exchange": "",
            "routing_key": "peek",
            "message_count": 1,
            "properties": {"app_id": "me"},
            "payload": "first",
            "payload_encoding": "string",
        },
        {
            "payload_bytes": 2,
            "redelivered": False,
            "exchange": "",
            "routing_key": "peek",
            "message_count": 0,
            "properties": [],
            "payload": "/wA=",
            "payload_encoding": "base64",
        },
    ]
    method, _, body = channel.basic_get("peek", auto_ack=True)
    connection.close()
    assert (body, method.redelivered, method.message_count) == (b"first", True, 1)


def test_get_with_ack_requeue_false_takes_messages(http: Http, vhost: str) -> None:
    v = quote(vhost)
    http.put(f"/api/queues/{v}/once")
    message = {
        "routing_key": "once",
        "properties": {},
        "payload": "x",
        "payload_encoding": "string",
    }
    http.post(f"/api/exchanges/{v}/amq.default/publish", message)
    taken = http.post(
        f"/api/queues/{v}/once/get",
        {"count": "1", "ackmode": "ack_requeue_false", "encoding": "auto", "truncate": 50000},
    )
    assert [entry["payload"] for entry in taken.body] == ["x"]
    assert http.get(f"/api/queues/{v}/once").body["messages"] == 0
    missing = http.post(
        f"/api/queues/{v}/nope/get", {"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"}
    )
    assert (missing.status, missing.body) == (
        404,
        {"error": "not_found", "reason": f"NOT_FOUND - no queue 'nope' in vhost '{vhost}'"},
    )


def test_purge_drops_ready_messages(broker: BrokerThread, http: Http, vhost: str) -> None:
    connection = amqp(broker, vhost)
    channel = connection.channel()
    channel.queue_declare("full")
    for _ in range(3):
        channel.basic_publish("", "full", b"x")
    assert http.delete(f"/api/queues/{quote(vhost)}/full/contents").status == 204
    assert channel.queue_declare("full", passive=True).method.message_count == 0
    connection.close()
    assert http.delete(f"/api/queues/{quote(vhost)}/nope/contents").status == 404


# ---- connections ---------------------------------------------------------------------------


def test_closing_a_connection_sends_320_closed_via_management_plugin(
    broker: BrokerThread, http: Http, vhost: str
) -> None:
    connection = amqp(broker, vhost)
    connection.channel()
    listed = http.get(f"/api/vhosts/{quote(vhost)}/connections").body
    assert [(entry["user"], entry["vhost"], entry["channels"]) for entry in listed] == [
        ("guest", vhost, 1)
    ]
    name = listed[0]["name"]
    assert http.get(f"/api/connections/{quote(name)}").body["client_properties"]["product"]
    assert http.delete(f"/api/connections/{quote(name)}").status == 204
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        connection.process_data_events(time_limit=2)
    assert (closed.value.reply_code, closed.value.reply_text) == (
        320,
        "CONNECTION_FORCED - Closed via management plugin",
    )
    assert http.delete(f"/api/connections/{quote(name)}").status == 404


def test_x_reason_header_sets_the_close_text(broker: BrokerThread, http: Http, vhost: str) -> None:
    connection = amqp(broker, vhost)
    name = http.get(f"/api/vhosts/{quote(vhost)}/connections").body[0]["name"]
    http.delete(f"/api/connections/{quote(name)}", headers={"X-Reason": "maintenance"})
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        connection.process_data_events(time_limit=2)
    assert closed.value.reply_text == "CONNECTION_FORCED - maintenance"


def test_management_user_sees_only_its_own_connections(broker: BrokerThread, http: Http) -> None:
    connection = connect(broker.url)  # guest on "/"
    try:
        assert http.as_user("manager", "pw").get("/api/connections").body == []
        assert len(http.as_user("monitor", "pw").get("/api/connections").body) >= 1
    finally:
        connection.close()


# ---- users, permissions, definitions --------------------------------------------------------


def test_users_and_permissions_created_over_http_can_log_in(
    broker: BrokerThread, http: Http, vhost: str
) -> None:
    assert http.put("/api/users/alice", {"password": "s3cret", "tags": "management"}).status == 201
    assert http.put("/api/users/alice", {"password": "s3cret", "tags": ""}).status == 204
    permission = {"configure": ".*", "write": ".*", "read": ".*"}
    assert http.put(f"/api/permissions/{quote(vhost)}/alice", permission).status == 201
    user = http.get("/api/users/alice").body
    assert user["hashing_algorithm"] == "rabbit_password_hashing_sha256"
    assert user["tags"] == []
    assert http.get(f"/api/permissions/{quote(vhost)}/alice").body == {
        "user": "alice",
        "vhost": vhost,
        **permission,
    }
    host, port = broker.host, broker.port
    url = f"amqp://alice:s3cret@{host}:{port}/{quote(vhost)}"
    connect(url).close()
    assert http.delete("/api/users/alice").status == 204
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        connect(url)


def test_definitions_export_loads_into_a_fresh_broker(http: Http, vhost: str) -> None:
    v = quote(vhost)
    http.put(f"/api/exchanges/{v}/events", {"type": "fanout", "durable": True})
    http.put(f"/api/queues/{v}/audit", {"durable": True, "arguments": {"x-max-length": 10}})
    http.post(f"/api/bindings/{v}/e/events/q/audit", {"routing_key": "", "arguments": {}})
    http.put("/api/users/bob", {"password": "pw", "tags": "monitoring"})
    http.put("/api/permissions/%2F/bob", {"configure": "", "write": "", "read": ".*"})
    exported = http.get("/api/definitions").body
    assert {"name": vhost} in exported["vhosts"]
    assert {
        "name": "audit",
        "vhost": vhost,
        "durable": True,
        "auto_delete": False,
        "arguments": {"x-max-length": 10},
    } in exported["queues"]
    assert all(not exchange["name"].startswith("amq.") for exchange in exported["exchanges"])
    with BrokerThread(BrokerConfig(port=0, management_port=0)) as fresh:
        assert fresh.management_url is not None
        other = Http(fresh.management_url)
        assert other.post("/api/definitions", exported).status == 204
        again = other.get("/api/definitions").body
        bob = next(user for user in again["users"] if user["name"] == "bob")
        connect(f"amqp://bob:pw@{fresh.host}:{fresh.port}/%2F").close()
    for section in ("queues", "exchanges", "bindings", "vhosts"):
        assert sorted(map(str, again[section])) == sorted(map(str, exported[section])), section
    assert bob["tags"] == ["monitoring"]
    assert {"user": "bob", "vhost": "/", "configure": "", "write": "", "read": ".*"} in again[
        "permissions"
    ]


def test_definitions_import_refuses_unknown_vhosts_and_bad_json(http: Http) -> None:
    reply = http.post("/api/definitions", {"queues": [{"name": "q", "vhost": "nowhere"}]})
    assert reply.body == {"error": "bad_request", "reason": ["no_such_vhost", "nowhere"]}
    garbage = http.request("POST", "/api/definitions", raw=b"{not json")
    assert garbage.body == {"error": "bad_request", "reason": "failed_to_parse_json"}


def test_vhost_with_a_slash_in_its_name_stays_one_path_segment(http: Http) -> None:
    assert http.put("/api/vhosts/a%2Fb").status == 201
    try:
        assert http.put("/api/queues/a%2Fb/q").status == 201
        assert [queue["vhost"] for queue in http.get("/api/queues/a%2Fb").body] == ["a/b"]
    finally:
        assert http.delete("/api/vhosts/a%2Fb").status == 204


def test_healthchecks_answer_ok(http: Http) -> None:
    assert http.get("/api/healthchecks/node").body == {"status": "ok"}
    assert http.get("/api/aliveness-test/%2F").body == {"status": "ok"}
