# RabbitMQ's own CLI for the management API (`rabbitmqadmin`, from Debian's rabbitmq-server
# package) pointed at this broker: listing, declaring, publishing, getting, purging, closing,
# exporting and importing must work unchanged.
from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika.exceptions
import pytest

from amqp_broker.config import BrokerConfig
from amqp_broker.testing import BrokerThread
from tests.integration.amqp_clients import connect

RABBITMQADMIN = shutil.which("rabbitmqadmin") or "/usr/sbin/rabbitmqadmin"
pytestmark = pytest.mark.skipif(
    not Path(RABBITMQADMIN).exists(),
    reason="rabbitmqadmin comes with rabbitmq-server (bash scripts/system-deps.sh)",
)


@pytest.fixture
def broker() -> Iterator[BrokerThread]:
    with BrokerThread(BrokerConfig(port=0, management_port=0)) as running:
        yield running


def admin(broker: BrokerThread, *args: str) -> str:
    assert broker.management_url is not None
    port = broker.management_url.rsplit(":", 1)[1]
    command = [RABBITMQADMIN, "-H", "127.0.0.1", "-P", port, "-u", "guest", "-p", "guest", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def admin_json(broker: BrokerThread, *args: str) -> Any:
    return json.loads(admin(broker, "-f", "raw_json", *args))


def test_declare_publish_list_get_purge_delete(broker: BrokerThread) -> None:
    admin(broker, "declare", "queue", "name=orders", "durable=false")
    admin(broker, "declare", "exchange", "name=shop", "type=topic")
    admin(broker, "declare", "binding", "source=shop", "destination=orders", "routing_key=order.*")
    admin(broker, "publish", "exchange=shop", "routing_key=order.new", "payload=one")
    admin(broker, "publish", "exchange=amq.default", "routing_key=orders", "payload=two")
    table = admin(broker, "list", "queues")
    assert "orders" in table
    assert "| 2 " in table  # the default columns: name and messages
    queues = admin_json(broker, "list", "queues", "name", "messages")
    assert {"name": "orders", "messages": 2} in queues
    bindings = admin_json(broker, "list", "bindings", "source", "destination", "routing_key")
    assert {"source": "shop", "destination": "orders", "routing_key": "order.*"} in bindings
    got = admin_json(broker, "get", "queue=orders", "count=2", "ackmode=ack_requeue_true")
    assert [message["payload"] for message in got] == ["one", "two"]
    assert admin_json(broker, "list", "queues", "name", "messages_ready") == [
        {"name": "orders", "messages_ready": 2}
    ]
    admin(broker, "purge", "queue", "name=orders")
    assert admin_json(broker, "list", "queues", "name", "messages") == [
        {"name": "orders", "messages": 0}
    ]
    admin(
        broker,
        "delete",
        "binding",
        "source=shop",
        "destination_type=queue",
        "destination=orders",
        "properties_key=order.%2A",  # as the listing gives it
    )
    assert admin_json(broker, "list", "bindings", "source") == [{"source": ""}]
    admin(broker, "delete", "queue", "name=orders")
    admin(broker, "delete", "exchange", "name=shop")
    assert admin_json(broker, "list", "queues") == []


def test_list_and_close_connections(broker: BrokerThread) -> None:
    connection = connect(broker.url)
    connection.channel()
    listed = admin_json(broker, "list", "connections", "name", "user", "channels")
    assert [(entry["user"], entry["channels"]) for entry in listed] == [("guest", 1)]
    assert len(admin_json(broker, "list", "channels")) == 1
    admin(broker, "close", "connection", f"name={listed[0]['name']}")
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        connection.process_data_events(time_limit=2)
    assert closed.value.reply_code == 320
    assert closed.value.reply_text == "CONNECTION_FORCED - Closed via management plugin"


def test_show_overview_and_list_vhosts_users(broker: BrokerThread) -> None:
    overview = admin(broker, "show", "overview")
    assert "3.10.8" in overview
    assert admin_json(broker, "list", "vhosts", "name") == [{"name": "/"}]
    users = admin_json(broker, "list", "users", "name", "tags")
    assert users == [{"name": "guest", "tags": ["administrator"]}]
    admin(broker, "declare", "vhost", "name=extra")
    admin(
        broker,
        "declare",
        "permission",
        "vhost=extra",
        "user=guest",
        "configure=.*",
        "write=.*",
        "read=.*",
    )
    assert {"name": "extra"} in admin_json(broker, "list", "vhosts", "name")


def test_export_and_import_definitions(broker: BrokerThread, tmp_path: Path) -> None:
    admin(broker, "declare", "queue", "name=kept")
    exported = tmp_path / "definitions.json"
    admin(broker, "export", str(exported))
    assert any(queue["name"] == "kept" for queue in json.loads(exported.read_text())["queues"])
    with BrokerThread(BrokerConfig(port=0, management_port=0)) as fresh:
        admin(fresh, "import", str(exported))
        assert admin_json(fresh, "list", "queues", "name") == [{"name": "kept"}]
