# A consumer that stops reading makes the broker hold messages in the queue, not in memory
# buffers: deliveries stop once its connection's unsent output passes the high-water mark.
from __future__ import annotations

import trio
from amqp_raw_client import RawClient
from pamqp import commands

from amqp_broker import BrokerConfig
from amqp_broker.testing import open_broker

BODY = b"x" * 100 * 1024  # fits one body frame
COUNT = 500  # 50 MiB: more than loopback socket buffers can hide


async def test_stalled_consumer_gets_no_new_deliveries_past_the_high_water_mark() -> None:
    config = BrokerConfig(port=0, consumer_output_high_water=1024 * 1024)
    async with open_broker(config) as broker:
        consumer = await RawClient.connect(broker.port)
        await consumer.handshake()
        await consumer.open_channel()
        await consumer.send_method(1, commands.Queue.Declare(queue="slow"))
        await consumer.read_method()
        await consumer.send_method(1, commands.Basic.Consume(queue="slow", no_ack=True))
        await consumer.read_method()
        # From here on the consumer reads nothing.
        publisher = await RawClient.connect(broker.port)
        await publisher.handshake()
        await publisher.open_channel()
        for _ in range(COUNT):
            await publisher.publish(1, "slow", BODY)
        await publisher.send_method(1, commands.Queue.Declare(queue="slow", passive=True))
        with trio.fail_after(20):
            _, declare_ok = await publisher.read_method()
        assert isinstance(declare_ok, commands.Queue.DeclareOk)
        queue = broker.broker.vhosts["/"].queues["slow"]
        assert queue.ready_count > COUNT // 2
        conn = next(
            c
            for c in broker.broker.connections.values()
            if c.channels.get(1) and c.channels[1].consumers
        )
        assert conn.protocol.pending_output < 2 * 1024 * 1024 + len(BODY)
        await consumer.aclose()
        await publisher.aclose()
