# The same HTTP requests against our management API and a real RabbitMQ 3.10.8's (a private node
# with the management plugin), after the same AMQP set-up: status codes, error bodies and JSON
# field names must agree. Every field we send must be one RabbitMQ sends too.
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pika
import pika.exceptions
import pytest

from amqp_broker.config import BrokerConfig
from amqp_broker.testing import BrokerThread
from interop.rabbitmq_node import available, running_rabbitmq
from tests.integration.amqp_clients import connect
from tests.integration.management_http import Http, quote

pytestmark = pytest.mark.skipif(
    not available(), reason="rabbitmq-server is not installed (bash scripts/system-deps.sh)"
)

# Fields every object of a kind must carry on both brokers.
REQUIRED = {
    "queue": {
        "name",
        "vhost",
        "durable",
        "auto_delete",
        "exclusive",
        "arguments",
        "messages",
        "messages_ready",
        "messages_unacknowledged",
        "consumers",
    },
    "exchange": {"name", "vhost", "type", "durable", "auto_delete", "internal", "arguments"},
    "binding": {
        "source",
        "vhost",
        "destination",
        "destination_type",
        "routing_key",
        "arguments",
        "properties_key",
    },
    "connection": {
        "name",
        "user",
        "vhost",
        "channels",
        "state",
        "peer_host",
        "peer_port",
        "client_properties",
        "protocol",
    },
    "channel": {
        "name",
        "number",
        "user",
        "vhost",
        "consumer_count",
        "prefetch_count",
        "messages_unacknowledged",
        "connection_details",
    },
    "consumer": {"consumer_tag", "queue", "channel_details", "ack_required", "prefetch_count"},
}
# Fields RabbitMQ sends only once its statistics have caught up; we always send them.
SOMETIMES = {"messages", "messages_ready", "messages_unacknowledged", "message_bytes_ready"}


class Side:
    """One broker under comparison: its management API and an AMQP client on it."""

    def __init__(self, http: Http, amqp_url: str) -> None:
        self.http = http
        self.amqp_url = amqp_url
        self.connection: pika.BlockingConnection | None = None

    def set_up(self) -> None:
        """The same topology and traffic on both brokers; the connection stays open."""
        self.connection = connection = connect(self.amqp_url)
        channel = connection.channel()
        channel.queue_declare("cmp-q")
        channel.exchange_declare("cmp-x", "topic")
        channel.queue_bind("cmp-q", "cmp-x", "a.#")
        channel.basic_publish(
            "", "cmp-q", b"hello", pika.BasicProperties(content_type="text/plain", headers={"n": 1})
        )
        channel.basic_publish("cmp-x", "a.b", b"\x00\xff")
        consuming = connection.channel()
        consuming.basic_qos(prefetch_count=5)
        consuming.queue_declare("cmp-consumed")
        consuming.basic_consume("cmp-consumed", lambda *args: None, consumer_tag="cmp-tag")
        connection.process_data_events(time_limit=0.1)

    def wait_for(self, path: str, ready: Callable[[Any], bool]) -> Any:
        """RabbitMQ publishes statistics every 5 s: poll until a listing has caught up."""
        deadline = time.monotonic() + 30
        while True:
            body = self.http.get(path).body
            if ready(body) or time.monotonic() > deadline:
                return body
            time.sleep(0.5)


@pytest.fixture(scope="module")
def sides() -> Iterator[tuple[Side, Side]]:
    with (
        running_rabbitmq(management=True) as node,
        BrokerThread(BrokerConfig(port=0, management_port=0)) as ours,
    ):
        assert node.management_url is not None and ours.management_url is not None
        theirs_side = Side(Http(node.management_url), node.url)
        ours_side = Side(Http(ours.management_url), ours.url)
        for side in (theirs_side, ours_side):
            side.set_up()
            side.wait_for("/api/queues/%2F/cmp-q", lambda q: q.get("messages_ready") == 2)
            side.wait_for("/api/consumers", lambda found: len(found) == 1)
            side.wait_for("/api/channels", lambda found: len(found) == 2)
        yield theirs_side, ours_side
        for side in (theirs_side, ours_side):
            if side.connection is not None and side.connection.is_open:
                side.connection.close()


def assert_fields_agree(theirs: Any, ours: Any, kind: str | None, where: str) -> None:
    assert type(ours) is type(theirs), f"{where}: {type(ours)} vs {type(theirs)}"
    if isinstance(theirs, list):
        if theirs and ours:
            for mine in ours:
                assert_fields_agree(theirs[0], mine, kind, f"{where}[]")
        return
    if not isinstance(theirs, dict):
        return
    extra = set(ours) - set(theirs) - SOMETIMES
    assert not extra, f"{where}: fields RabbitMQ does not send: {sorted(extra)}"
    if kind is not None:
        missing = REQUIRED[kind] - set(ours)
        assert not missing, f"{where}: missing {sorted(missing)}"


LISTINGS = [
    ("/api/overview", None),
    ("/api/whoami", None),
    ("/api/vhosts", None),
    ("/api/vhosts/%2F", None),
    ("/api/users", None),
    ("/api/users/guest", None),
    ("/api/permissions", None),
    ("/api/permissions/%2F/guest", None),
    ("/api/exchanges", "exchange"),
    ("/api/exchanges/%2F", "exchange"),
    ("/api/exchanges/%2F/cmp-x/bindings/source", "binding"),
    ("/api/queues", "queue"),
    ("/api/queues/%2F", "queue"),
    ("/api/queues/%2F/cmp-q", "queue"),
    ("/api/queues/%2F/cmp-q/bindings", "binding"),
    ("/api/bindings", "binding"),
    ("/api/bindings/%2F", "binding"),
    ("/api/bindings/%2F/e/cmp-x/q/cmp-q", "binding"),
    ("/api/connections", "connection"),
    ("/api/channels", "channel"),
    ("/api/consumers", "consumer"),
    ("/api/consumers/%2F", "consumer"),
    ("/api/definitions", None),
    ("/api/healthchecks/node", None),
    ("/api/health/checks/alarms", None),
    ("/api/nodes", None),
    ("/api/aliveness-test/%2F", None),
]


@pytest.mark.parametrize(("path", "kind"), LISTINGS, ids=[path for path, _ in LISTINGS])
def test_listing_fields_agree(sides: tuple[Side, Side], path: str, kind: str | None) -> None:
    theirs, ours = (side.http.get(path) for side in sides)
    assert ours.status == theirs.status == 200
    assert_fields_agree(theirs.body, ours.body, kind, path)


def test_nested_overview_fields_agree(sides: tuple[Side, Side]) -> None:
    theirs, ours = (side.http.get("/api/overview").body for side in sides)
    for key in ("object_totals", "queue_totals", "message_stats"):
        assert set(ours[key]) <= set(theirs[key]) | {
            "deliver_get",
            "deliver_get_details",
            "ack",
            "ack_details",
        }, key
    assert set(ours["object_totals"]) == set(theirs["object_totals"])
    assert ours["object_totals"]["queues"] == theirs["object_totals"]["queues"]


def test_same_state_is_reported_the_same(sides: tuple[Side, Side]) -> None:
    def state(side: Side) -> Any:
        queue = side.http.get("/api/queues/%2F/cmp-q").body
        bindings = side.http.get("/api/bindings/%2F/e/cmp-x/q/cmp-q").body
        consumer = side.http.get("/api/consumers").body[0]
        return (
            {key: queue[key] for key in REQUIRED["queue"]},
            bindings,
            consumer["consumer_tag"],
            consumer["queue"],
            consumer["prefetch_count"],
        )

    theirs, ours = (state(side) for side in sides)
    assert ours == theirs


# (method, path, body, credentials): the errors each broker must give alike
ERRORS: list[tuple[str, str, Any, tuple[str, str] | None]] = [
    ("GET", "/api/queues/%2F/nope", None, ("guest", "guest")),
    ("GET", "/api/queues/nope", None, ("guest", "guest")),
    ("GET", "/api/no/such/thing", None, ("guest", "guest")),
    ("GET", "/api/overview", None, ("guest", "wrong")),
    ("GET", "/api/overview", None, ("nobody", "x")),
    ("PUT", "/api/queues/%2F/cmp-q", {"durable": True}, ("guest", "guest")),
    ("PUT", "/api/queues/%2F/cmp-new", {"durable": "yes"}, ("guest", "guest")),
    ("PUT", "/api/queues/%2F/amq.reserved", {}, ("guest", "guest")),
    ("PUT", "/api/exchanges/%2F/cmp-x", {"type": "fanout"}, ("guest", "guest")),
    ("PUT", "/api/exchanges/%2F/cmp-bogus", {"type": "bogus"}, ("guest", "guest")),
    ("DELETE", "/api/exchanges/%2F/amq.direct", None, ("guest", "guest")),
    ("DELETE", "/api/queues/%2F/nope", None, ("guest", "guest")),
    ("DELETE", "/api/queues/%2F/nope/contents", None, ("guest", "guest")),
    ("DELETE", "/api/connections/nope", None, ("guest", "guest")),
    (
        "POST",
        "/api/exchanges/%2F/nope/publish",
        {"properties": {}, "routing_key": "k", "payload": "x", "payload_encoding": "string"},
        ("guest", "guest"),
    ),
    ("POST", "/api/exchanges/%2F/cmp-x/publish", {"routing_key": "k"}, ("guest", "guest")),
    (
        "POST",
        "/api/exchanges/%2F/cmp-x/publish",
        {"properties": {}, "routing_key": "k", "payload": "x", "payload_encoding": "rot13"},
        ("guest", "guest"),
    ),
    (
        "POST",
        "/api/exchanges/%2F/amq.rabbitmq.trace/publish",
        {"properties": {}, "routing_key": "k", "payload": "x", "payload_encoding": "string"},
        ("guest", "guest"),
    ),
    (
        "POST",
        "/api/queues/%2F/nope/get",
        {"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"},
        ("guest", "guest"),
    ),
    (
        "POST",
        "/api/queues/%2F/cmp-q/get",
        {"ackmode": "ack_requeue_true", "encoding": "auto"},
        ("guest", "guest"),
    ),
    ("POST", "/api/bindings/%2F/e/nope/q/cmp-q", {}, ("guest", "guest")),
    ("POST", "/api/bindings/%2F/e/cmp-x/q/nope", {}, ("guest", "guest")),
    ("DELETE", "/api/bindings/%2F/e/cmp-x/q/cmp-q/nope", None, ("guest", "guest")),
    (
        "POST",
        "/api/definitions",
        {"queues": [{"name": "q", "vhost": "nowhere"}]},
        ("guest", "guest"),
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "credentials"),
    ERRORS,
    ids=[f"{method} {path} {body}" for method, path, body, _ in ERRORS],
)
def test_errors_agree(
    sides: tuple[Side, Side],
    method: str,
    path: str,
    body: Any,
    credentials: tuple[str, str] | None,
) -> None:
    def ask(side: Side) -> tuple[int, Any]:
        http = side.http.as_user(*credentials) if credentials else side.http.as_user(None)
        reply = http.request(method, path, body)
        return reply.status, reply.body

    theirs, ours = (ask(side) for side in sides)
    assert ours == theirs


def test_unauthenticated_request_is_401_on_both(sides: tuple[Side, Side]) -> None:
    theirs, ours = (side.http.as_user(None).get("/api/overview") for side in sides)
    assert ours.status == theirs.status == 401
    assert ours.headers["www-authenticate"].startswith("Basic")


def test_publish_then_peek_answers_alike(sides: tuple[Side, Side]) -> None:
    def run(side: Side) -> Any:
        http = side.http
        routed = [
            http.post(
                "/api/exchanges/%2F/cmp-x/publish",
                {
                    "properties": {"delivery_mode": 2, "headers": {"h": "v"}},
                    "routing_key": key,
                    "payload": "aGk=",
                    "payload_encoding": "base64",
                },
            ).body
            for key in ("a.c", "z")
        ]
        side.wait_for("/api/queues/%2F/cmp-q", lambda q: q.get("messages_ready") == 3)
        peeked = http.post(
            "/api/queues/%2F/cmp-q/get",
            {"count": 10, "ackmode": "ack_requeue_true", "encoding": "auto", "truncate": 50000},
        ).body
        again = http.post(
            "/api/queues/%2F/cmp-q/get",
            {"count": 1, "ackmode": "ack_requeue_true", "encoding": "base64"},
        ).body
        return routed, peeked, again

    theirs, ours = (run(side) for side in sides)
    assert ours == theirs


def test_closing_a_connection_gives_the_same_close_to_the_client(
    sides: tuple[Side, Side],
) -> None:
    def close(side: Side) -> tuple[int, str]:
        parameters = pika.URLParameters(side.amqp_url)
        parameters.client_properties = {"connection_name": "cmp-close"}
        connection = pika.BlockingConnection(parameters)

        def named(found: Any) -> list[str]:
            return [
                entry["name"]
                for entry in found
                if entry["client_properties"].get("connection_name") == "cmp-close"
            ]

        names = named(side.wait_for("/api/connections", lambda found: bool(named(found))))
        assert side.http.delete(f"/api/connections/{quote(names[0])}").status == 204
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
            connection.process_data_events(time_limit=5)
        return closed.value.reply_code, closed.value.reply_text

    theirs, ours = (close(side) for side in sides)
    assert ours == theirs == (320, "CONNECTION_FORCED - Closed via management plugin")
