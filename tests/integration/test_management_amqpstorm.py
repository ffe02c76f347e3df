# AMQPStorm's ManagementApi against our management API, as its own functional suite uses it
# against RabbitMQ: paged listings (?page=...), the node, cluster and health calls, bulk user
# deletion and a vhost's permissions; plain HTTP for the counts and error answers. Every
# expectation was measured on RabbitMQ 3.10.8.
from __future__ import annotations

import itertools
import urllib.parse
from collections.abc import Iterator

import pika.exceptions
import pytest
from amqpstorm.management import ApiError, ManagementApi

from amqp_broker.config import BrokerConfig
from amqp_broker.testing import BrokerThread
from tests.integration.amqp_clients import connect
from tests.integration.management_http import Http, quote

_names = itertools.count(1)
QUEUES = ["pg-alpha", "pg-Beta", "pg-gamma", "other"]


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerThread]:
    with BrokerThread(BrokerConfig(port=0, management_port=0)) as running:
        yield running


@pytest.fixture(scope="module")
def http(broker: BrokerThread) -> Http:
    assert broker.management_url is not None
    return Http(broker.management_url)


@pytest.fixture(scope="module")
def api(broker: BrokerThread) -> ManagementApi:
    assert broker.management_url is not None
    return ManagementApi(broker.management_url, "guest", "guest", timeout=5)


@pytest.fixture
def vhost(http: Http, broker: BrokerThread) -> Iterator[str]:
    """A vhost holding the queues (and an exchange "x" + each queue name) of QUEUES."""
    name = f"paged-{next(_names)}"
    assert http.put(f"/api/vhosts/{name}").status == 201
    with connect(broker.url_for(name)) as connection:
        channel = connection.channel()
        for queue in QUEUES:
            channel.queue_declare(queue)
            channel.exchange_declare("x" + queue)
    yield name
    http.delete(f"/api/vhosts/{name}")


# ---- paged listings --------------------------------------------------------------------------


def page(http: Http, path: str, **query: str | int) -> dict[str, object]:
    reply = http.get(f"{path}?{urllib.parse.urlencode(query)}")
    assert reply.status == 200, reply.body
    assert isinstance(reply.body, dict)
    return reply.body


def names(body: dict[str, object]) -> list[str]:
    items = body["items"]
    assert isinstance(items, list)
    return [item["name"] for item in items]


def test_amqpstorm_lists_queues_and_exchanges_page_by_page(
    broker: BrokerThread, vhost: str
) -> None:
    assert broker.management_url is not None
    api = ManagementApi(broker.management_url, "guest", "guest", timeout=5)
    listed = api.queue.list(virtual_host=vhost, page_size=1)
    assert sorted(queue["name"] for queue in listed) == sorted(QUEUES)
    filtered = api.queue.list(virtual_host=vhost, name="^pg-[ab]", use_regex=True)
    assert [queue["name"] for queue in filtered] == ["pg-Beta", "pg-alpha"]
    exchanges = api.exchange.list(virtual_host=vhost, name="xpg", page_size=2)
    assert [exchange["name"] for exchange in exchanges] == ["xpg-Beta", "xpg-alpha", "xpg-gamma"]


def test_amqpstorm_finds_and_closes_its_connection(broker: BrokerThread, vhost: str) -> None:
    assert broker.management_url is not None
    api = ManagementApi(broker.management_url, "guest", "guest", timeout=5)
    with connect(broker.url_for(vhost)) as connection:
        ours = [found for found in api.connection.list() if found["vhost"] == vhost]
        assert len(ours) == 1
        api.connection.close(ours[0]["name"], reason="paged")
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker, match="paged"):
            connection.channel()


def test_a_page_carries_rabbitmqs_counts_in_name_order(http: Http, vhost: str) -> None:
    body = page(http, f"/api/queues/{quote(vhost)}", page=2, page_size=2)
    assert names(body) == ["pg-alpha", "pg-gamma"]  # byte order: "pg-B" < "pg-a"
    assert {key: value for key, value in body.items() if key != "items"} == {
        "filtered_count": 4,
        "item_count": 2,
        "page": 2,
        "page_count": 2,
        "page_size": 2,
        "total_count": 4,
    }


def test_name_filters_ignore_case_and_regex_is_opt_in(http: Http, vhost: str) -> None:
    path = f"/api/queues/{quote(vhost)}"
    assert names(page(http, path, page=1, name="BETA")) == ["pg-Beta"]
    assert names(page(http, path, page=1, name="pg-[ab]")) == []  # a literal without use_regex
    matched = page(http, path, page=1, name="^PG-[AB]", use_regex="true")
    assert names(matched) == ["pg-Beta", "pg-alpha"]
    assert (matched["filtered_count"], matched["total_count"]) == (2, 4)


def test_sort_and_columns_apply_to_the_page(http: Http, vhost: str) -> None:
    path = f"/api/queues/{quote(vhost)}"
    body = page(http, path, page=1, page_size=3, sort_reverse="true", columns="name")
    assert body["items"] == [{"name": "pg-gamma"}, {"name": "pg-alpha"}, {"name": "pg-Beta"}]


def test_without_page_the_listing_stays_a_list(http: Http, vhost: str) -> None:
    reply = http.get(f"/api/queues/{quote(vhost)}?page_size=1&name=pg")
    assert isinstance(reply.body, list) and len(reply.body) == 4
    # and listings RabbitMQ does not page ignore page
    assert isinstance(http.get(f"/api/bindings/{quote(vhost)}?page=1").body, list)


@pytest.mark.parametrize(
    ("query", "error", "reason"),
    [
        ("page=0&page_size=2", "invalid_pagination_parameters", "page number 0, page size 2"),
        ("page=1&page_size=501", "invalid_pagination_parameters", "page number 1, page size 501"),
        ("page=-1", "invalid_pagination_parameters", "page number -1, page size undefined"),
        ("page=abc", "bad_request", "Pagination parameters are invalid"),
        ("page=1&page_size=x", "bad_request", "Pagination parameters are invalid"),
        ("page=1&name=%5B&use_regex=true", "bad_request", "Pagination parameters are invalid"),
        (
            "page=3&page_size=2",
            "page_out_of_range",
            "Page out of range, page: 3 page size: 2, len: 4",
        ),
    ],
)
def test_bad_paging_is_400_with_rabbitmqs_reason(
    http: Http, vhost: str, query: str, error: str, reason: str
) -> None:
    reply = http.get(f"/api/queues/{quote(vhost)}?{query}")
    assert reply.status == 400
    assert reply.body["error"] == error
    assert reply.body["reason"].endswith(reason)


def test_page_one_of_nothing_is_an_empty_page(http: Http, vhost: str) -> None:
    body = page(http, f"/api/vhosts/{quote(vhost)}/channels", page=1)
    assert body["items"] == [] and (body["page_count"], body["page_size"]) == (0, 100)


# ---- nodes, users, permissions ---------------------------------------------------------------


def test_the_node_is_found_by_the_name_the_overview_gives(api: ManagementApi) -> None:
    context = api.overview()["contexts"][0]
    assert context["description"] == "RabbitMQ Management"
    name = context["node"]
    assert api.nodes()[0]["name"] == name
    assert api.node(name)["name"] == name
    assert api.healthchecks.get(name) == {"status": "ok"}
    assert api.cluster_name() == {"name": name}


def test_another_node_is_not_found(http: Http) -> None:
    assert http.get("/api/nodes/rabbit@elsewhere").status == 404
    assert http.get("/api/healthchecks/node/rabbit@elsewhere").body == {
        "error": "Object Not Found",
        "reason": "Not Found",
    }


def test_users_are_deleted_in_bulk(api: ManagementApi) -> None:
    users = [f"bulk-{next(_names)}" for _ in range(3)]
    for user in users:
        api.user.create(user, "pw")
    assert api.user.delete(users) is None
    for user in users:
        with pytest.raises(ApiError):
            api.user.get(user)


def test_bulk_delete_stops_at_the_first_unknown_user(api: ManagementApi, http: Http) -> None:
    first, last = f"bulk-{next(_names)}", f"bulk-{next(_names)}"
    api.user.create(first, "pw")
    api.user.create(last, "pw")
    reply = http.post("/api/users/bulk-delete", {"users": [first, "nobody", last]})
    assert (reply.status, reply.body) == (
        400,
        {"error": "bad_request", "reason": ["no_such_user", "nobody"]},
    )
    assert http.get(f"/api/users/{first}").status == 404
    assert api.user.get(last)["name"] == last
    assert http.post("/api/users/bulk-delete", {}).body == {
        "error": "bad_request",
        "reason": "[{key_missing,users}]",
    }
    assert http.post("/api/users/bulk-delete", {"users": []}).status == 204


def test_a_vhosts_permissions(api: ManagementApi, http: Http) -> None:
    assert api.virtual_host.get_permissions("/") == [
        {"user": "guest", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}
    ]
    assert http.get("/api/vhosts/nowhere/permissions").status == 404
