# A BrokerThread on a MockClock (time moved ahead without sleeping) and a BrokerProcess restart
# that keeps durable state, even after a SIGKILL.
from __future__ import annotations

import signal
from pathlib import Path

import pika
import pytest
import trio.testing

from amqp_broker.testing import BrokerProcess, BrokerThread


def test_advance_clock_expires_a_message_ttl_without_waiting() -> None:
    with BrokerThread(clock=trio.testing.MockClock(rate=1.0)) as broker:
        connection = pika.BlockingConnection(pika.URLParameters(broker.url))
        channel = connection.channel()
        channel.queue_declare("short", arguments={"x-message-ttl": 60_000})
        channel.basic_publish("", "short", b"soon stale")
        broker.wait_for(broker.queue_has("short", ready=1))
        broker.advance_clock(61)
        broker.wait_for(broker.queue_empty("short"))
        assert channel.is_open
        connection.close()


def test_advance_clock_needs_a_mock_clock(amqp_broker: BrokerThread) -> None:
    with pytest.raises(RuntimeError, match="MockClock"):
        amqp_broker.advance_clock(1)


def test_process_restart_after_sigkill_keeps_durable_messages(tmp_path: Path) -> None:
    with BrokerProcess(data_dir=str(tmp_path)) as broker:
        with pika.BlockingConnection(pika.URLParameters(broker.url)) as connection:
            channel = connection.channel()
            channel.confirm_delivery()  # confirmed once on disk
            channel.queue_declare("orders", durable=True)
            channel.basic_publish("", "orders", b"o1", pika.BasicProperties(delivery_mode=2))
        port = broker.port
        broker.restart(signal.SIGKILL)
        assert broker.port == port
        with pika.BlockingConnection(pika.URLParameters(broker.url)) as connection:
            _, _, body = connection.channel().basic_get("orders", auto_ack=True)
        assert body == b"o1"
