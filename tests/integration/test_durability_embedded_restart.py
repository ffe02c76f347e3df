# Restarting embedded brokers on one data directory: shutdown returns only once the data
# directory is released, so the next broker can open it at once.
from __future__ import annotations

from pathlib import Path

import pika

from amqp_broker.config import BrokerConfig
from amqp_broker.testing import BrokerThread, open_broker


async def test_open_broker_restarts_on_its_data_dir(tmp_path: Path) -> None:
    config = BrokerConfig(port=0, data_dir=str(tmp_path / "data"), fsync="never")
    async with open_broker(config) as running:
        vhost = running.broker.vhosts["/"]
        running.broker.declare_queue(vhost, "kept", durable=True, auto_delete=False, arguments={})
        await running.restart()
        await running.restart()
        assert "kept" in running.broker.vhosts["/"].queues


def test_broker_thread_restart_keeps_persistent_messages(tmp_path: Path) -> None:
    config = BrokerConfig(port=0, data_dir=str(tmp_path / "data"), fsync="never")
    with BrokerThread(config) as broker:
        connection = pika.BlockingConnection(pika.URLParameters(broker.url))
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare("kept", durable=True)
        channel.basic_publish("", "kept", b"still here", pika.BasicProperties(delivery_mode=2))
        connection.close()
        broker.restart()
        connection = pika.BlockingConnection(pika.URLParameters(broker.url))
        method, _, body = connection.channel().basic_get("kept", auto_ack=True)
        connection.close()
    assert method is not None and body == b"still here"
