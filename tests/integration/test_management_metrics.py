# /metrics in Prometheus text format under rabbitmq_prometheus's names, read back with
# prometheus_client's own parser; the values must follow what clients do over AMQP.
from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from amqp_broker.config import BrokerConfig
from amqp_broker.testing import BrokerThread
from tests.integration.amqp_clients import connect
from tests.integration.management_http import Http


@pytest.fixture
def broker() -> Iterator[BrokerThread]:
    with BrokerThread(BrokerConfig(port=0, management_port=0)) as running:
        yield running


def scrape(http: Http, path: str = "/metrics") -> dict[tuple[str, tuple[str, ...]], float]:
    reply = http.as_user(None).get(path)  # no login, as RabbitMQ's plugin
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/plain")
    values = {}
    for family in text_string_to_metric_families(reply.body):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.values())))] = sample.value
    return values


def test_metrics_follow_publishes_deliveries_and_acks(broker: BrokerThread) -> None:
    assert broker.management_url is not None
    http = Http(broker.management_url)
    connection = connect(broker.url)
    channel = connection.channel()
    channel.queue_declare("metered")
    for _ in range(3):
        channel.basic_publish("", "metered", b"12345")
    method, _, _ = channel.basic_get("metered")
    channel.basic_ack(method.delivery_tag)
    channel.basic_get("metered")  # left unacked
    values = scrape(http)
    per_queue = scrape(http, "/metrics/per-object")
    connection.close()
    assert values[("rabbitmq_connections", ())] == 1
    assert values[("rabbitmq_channels", ())] == 1
    assert values[("rabbitmq_queues", ())] == 1
    assert values[("rabbitmq_queue_messages_ready", ())] == 1
    assert values[("rabbitmq_queue_messages_unacked", ())] == 1
    assert values[("rabbitmq_queue_messages", ())] == 2
    assert values[("rabbitmq_global_messages_received_total", ())] == 3
    assert values[("rabbitmq_global_messages_delivered_total", ())] == 2
    assert values[("rabbitmq_global_messages_acknowledged_total", ())] == 1
    assert values[("rabbitmq_connection_incoming_bytes_total", ())] > 3 * 5
    assert values[("rabbitmq_connection_outgoing_bytes_total", ())] > 2 * 5
    assert per_queue[("rabbitmq_queue_messages_ready", ("/", "metered"))] == 1
    assert per_queue[("rabbitmq_queue_messages_unacked", ("/", "metered"))] == 1
