# `amqp-broker ctl` verbs against a running broker's management API, with pika clients on the
# other side to see their effects.
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pika.exceptions
import pytest

from amqp_broker.cli import main
from amqp_broker.config import BrokerConfig
from amqp_broker.testing import BrokerThread
from tests.integration.amqp_clients import connect


@pytest.fixture
def broker() -> Iterator[BrokerThread]:
    with BrokerThread(BrokerConfig(port=0, management_port=0)) as running:
        yield running


def ctl(broker: BrokerThread, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    assert broker.management_url is not None
    code = main(["ctl", "--url", broker.management_url, *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_list_queues_as_a_table_and_as_json(
    broker: BrokerThread, capsys: pytest.CaptureFixture[str]
) -> None:
    connection = connect(broker.url)
    channel = connection.channel()
    channel.queue_declare("jobs")
    channel.basic_publish("", "jobs", b"x")
    code, table = ctl(broker, capsys, "list-queues")
    assert code == 0
    header, row = table.splitlines()
    assert header.split() == [
        "vhost",
        "name",
        "messages_ready",
        "messages_unacknowledged",
        "consumers",
    ]
    assert row.split() == ["/", "jobs", "1", "0", "0"]
    _, text = ctl(broker, capsys, "--json", "list-queues")
    assert [(queue["name"], queue["messages"]) for queue in json.loads(text)] == [("jobs", 1)]
    _, text = ctl(broker, capsys, "--json", "list-bindings")
    assert [binding["destination"] for binding in json.loads(text)] == ["jobs"]
    _, text = ctl(broker, capsys, "list-exchanges")
    assert "amq.topic" in text
    connection.close()


def test_purge_and_delete_queue(broker: BrokerThread, capsys: pytest.CaptureFixture[str]) -> None:
    connection = connect(broker.url)
    channel = connection.channel()
    channel.queue_declare("jobs")
    channel.basic_publish("", "jobs", b"x")
    assert ctl(broker, capsys, "purge-queue", "jobs") == (0, "")
    assert channel.queue_declare("jobs", passive=True).method.message_count == 0
    assert ctl(broker, capsys, "delete-queue", "jobs") == (0, "")
    code, text = ctl(broker, capsys, "delete-queue", "jobs")
    assert (code, text) == (1, "amqp-broker ctl delete-queue: HTTP 404: Not Found\n")
    connection.close()


def test_close_connection_reaches_the_client_as_320(
    broker: BrokerThread, capsys: pytest.CaptureFixture[str]
) -> None:
    connection = connect(broker.url)
    code, text = ctl(broker, capsys, "--json", "list-connections")
    assert code == 0
    name = json.loads(text)[0]["name"]
    assert ctl(broker, capsys, "close-connection", name, "--reason", "bye") == (0, "")
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        connection.process_data_events(time_limit=2)
    assert (closed.value.reply_code, closed.value.reply_text) == (320, "CONNECTION_FORCED - bye")


def test_export_and_import_definitions(
    broker: BrokerThread, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    connection = connect(broker.url)
    connection.channel().queue_declare("kept", durable=True)
    connection.close()
    path = tmp_path / "definitions.json"
    assert ctl(broker, capsys, "export-definitions", str(path)) == (0, "")
    assert [queue["name"] for queue in json.loads(path.read_text())["queues"]] == ["kept"]
    with BrokerThread(BrokerConfig(port=0, management_port=0)) as fresh:
        assert ctl(fresh, capsys, "import-definitions", str(path)) == (0, "")
        code, text = ctl(fresh, capsys, "--json", "list-queues")
    assert code == 0
    assert [queue["name"] for queue in json.loads(text)] == ["kept"]


def test_no_broker_at_the_url_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ctl", "--url", "http://127.0.0.1:9", "list-queues"]) == 2
    assert "no management API at http://127.0.0.1:9" in capsys.readouterr().err


def test_wrong_password_exits_1_with_the_reason(
    broker: BrokerThread, capsys: pytest.CaptureFixture[str]
) -> None:
    assert broker.management_url is not None
    code = main(["ctl", "--url", broker.management_url, "--password", "x", "list-queues"])
    assert code == 1
    assert capsys.readouterr().err == "amqp-broker ctl list-queues: HTTP 401: Login failed\n"
