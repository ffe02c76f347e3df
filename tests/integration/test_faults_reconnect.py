# Fault injection seen through real clients' recovery: pika's exceptions and a reconnect loop
# written the way pika's documentation recommends, and aio-pika's robust connection, which
# reconnects, redeclares and reconsumes by itself.
from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import aio_pika
import pika
import pika.exceptions
import pytest
from amqp_clients import vhost_of

from amqp_broker import BrokerConfig
from amqp_broker.testing import BrokerThread

# A pika consumer's recovery, as in pika's examples: reconnect after any connection error.
RECOVERABLE = (pika.exceptions.AMQPConnectionError, pika.exceptions.ChannelClosedByBroker)


def _pika_params(url: str, **options: object) -> pika.URLParameters:
    parameters = pika.URLParameters(url)
    for name, value in options.items():
        setattr(parameters, name, value)
    return parameters


def _fail_after_consuming_one(
    broker: BrokerThread, url: str, fault: Callable[[int], None], **options: object
) -> BaseException:
    """Consume one message without acking it, inject the fault into that connection, and
    return what pika raised."""
    vhost = vhost_of(url)
    connection = pika.BlockingConnection(_pika_params(url, **options))
    channel = connection.channel()
    channel.queue_declare("work")
    broker.publish_to_queue("work", b"job", vhost=vhost)
    method, _, _ = next(channel.consume("work", inactivity_timeout=5))
    assert method is not None
    [conn] = broker.connections(vhost)
    fault(conn.number)
    with pytest.raises(RECOVERABLE) as raised:
        for _ in channel.consume("work", inactivity_timeout=0.05):
            pass  # keeps pika's I/O loop turning until it notices the fault
    return raised.value


def _reconnect_and_get(url: str) -> tuple[bytes, bool]:
    with pika.BlockingConnection(pika.URLParameters(url)) as connection:
        method, _, body = next(connection.channel().consume("work", inactivity_timeout=5))
        assert method is not None
        return body, bool(method.redelivered)


def test_pika_sees_320_on_close_connection_and_recovers_the_unacked_message(
    amqp_broker: BrokerThread, amqp_url: str
) -> None:
    error = _fail_after_consuming_one(
        amqp_broker, amqp_url, lambda n: amqp_broker.close_connection(n, "test close")
    )
    assert isinstance(error, pika.exceptions.ConnectionClosedByBroker)
    assert (error.reply_code, error.reply_text) == (320, "CONNECTION_FORCED - test close")
    assert _reconnect_and_get(amqp_url) == (b"job", True)


def test_pika_sees_a_reset_stream_on_drop_connection_and_recovers(
    amqp_broker: BrokerThread, amqp_url: str
) -> None:
    error = _fail_after_consuming_one(amqp_broker, amqp_url, amqp_broker.drop_connection)
    assert isinstance(error, pika.exceptions.StreamLostError)
    assert "ConnectionResetError" in str(error)
    assert _reconnect_and_get(amqp_url) == (b"job", True)


def test_pika_heartbeat_timeout_fires_on_a_frozen_connection_and_recovers(
    amqp_broker: BrokerThread, amqp_url: str
) -> None:
    error = _fail_after_consuming_one(
        amqp_broker, amqp_url, amqp_broker.freeze_connection, heartbeat=1
    )
    assert isinstance(error, pika.exceptions.AMQPHeartbeatTimeout | pika.exceptions.StreamLostError)
    assert "heartbeat" in str(error).lower()
    # The client closed the socket: the broker notices and requeues the unacked message.
    assert _reconnect_and_get(amqp_url) == (b"job", True)


def test_pika_publisher_is_blocked_and_resumes_when_unblocked(
    amqp_private_broker: BrokerThread,
) -> None:
    broker = amqp_private_broker
    events: list[str] = []
    with pika.BlockingConnection(pika.URLParameters(broker.url)) as connection:
        connection.add_on_connection_blocked_callback(lambda *_: events.append("blocked"))
        connection.add_on_connection_unblocked_callback(lambda *_: events.append("unblocked"))
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare("q")
        channel.basic_publish("", "q", b"before")
        broker.block_publishers()
        # The unblocking happens elsewhere, once the broker shows this publisher blocked.
        unblocker = threading.Thread(
            target=lambda: (
                broker.wait_for(lambda: broker.connections()[0].blocked),
                broker.unblock_publishers(),
            )
        )
        unblocker.start()
        channel.basic_publish("", "q", b"during")  # confirmed (after the unblock, if held)
        unblocker.join()
        # pika calls connection callbacks from process_data_events
        broker.wait_for(lambda: connection.process_data_events(0) or len(events) == 2)
    assert events == ["blocked", "unblocked"]
    assert [m.body for m in broker.peek("q")] == [b"before", b"during"]


def test_pika_reconnect_loop_survives_a_restart_that_keeps_durable_state(
    tmp_path: Path,
) -> None:
    with BrokerThread(BrokerConfig(port=0, data_dir=str(tmp_path))) as broker:
        with pika.BlockingConnection(pika.URLParameters(broker.url)) as connection:
            channel = connection.channel()
            channel.confirm_delivery()
            channel.queue_declare("durable-q", durable=True)
            channel.queue_declare("transient-q")
            channel.basic_publish("", "durable-q", b"kept", pika.BasicProperties(delivery_mode=2))
            channel.basic_publish("", "durable-q", b"lost", pika.BasicProperties(delivery_mode=1))
            broker.restart()
            with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
                connection.process_data_events(1)
        assert closed.value.reply_code == 320
        retry = _pika_params(broker.url, connection_attempts=50, retry_delay=0.05)
        with pika.BlockingConnection(retry) as connection:
            channel = connection.channel()
            _, _, body = channel.basic_get("durable-q", auto_ack=True)
            assert body == b"kept"
            assert channel.queue_declare("durable-q", passive=True).method.message_count == 0
        assert [q.name for q in broker.queues()] == ["durable-q"]


# ---- aio-pika's robust connection -------------------------------------------------------------

FAULTS: dict[str, Callable[[BrokerThread, int], None]] = {
    "close": lambda broker, number: broker.close_connection(number),
    "drop": lambda broker, number: broker.drop_connection(number),
    "freeze": lambda broker, number: broker.freeze_connection(number),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_aio_pika_robust_connection_reconnects_and_consumes_again(
    amqp_broker: BrokerThread, amqp_url: str, fault: str
) -> None:
    vhost = vhost_of(amqp_url)

    async def scenario() -> list[bytes]:
        received: list[bytes] = []
        url = f"{amqp_url}?heartbeat=1&reconnect_interval=0.05"
        connection = await aio_pika.connect_robust(url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue("events")

            async def handle(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                async with message.process():
                    received.append(message.body)

            await queue.consume(handle)
            await amqp_broker.wait_for_async(amqp_broker.consumer_on("events", vhost=vhost))
            [before] = amqp_broker.connections(vhost)
            FAULTS[fault](amqp_broker, before.number)
            # The robust connection comes back as a new connection with its consumer.
            await amqp_broker.wait_for_async(
                lambda: any(
                    consumer.connection != before.number
                    for consumer in amqp_broker.consumers(vhost)
                ),
                what="aio-pika to reconnect and consume again",
                timeout=20,
            )
            amqp_broker.publish_to_queue("events", b"after", vhost=vhost)
            await amqp_broker.wait_for_async(lambda: received)
        return received

    assert asyncio.run(scenario()) == [b"after"]


def test_aio_pika_publish_waits_while_blocked(amqp_private_broker: BrokerThread) -> None:
    broker = amqp_private_broker

    async def scenario() -> None:
        async with await aio_pika.connect(broker.url) as connection:
            channel = await connection.channel()  # publisher confirms on
            queue = await channel.declare_queue("q")
            await channel.default_exchange.publish(aio_pika.Message(b"first"), "q")
            broker.block_publishers()
            await broker.wait_for_async(lambda: broker.connections()[0].blocked)
            publish = asyncio.ensure_future(
                channel.default_exchange.publish(aio_pika.Message(b"second"), "q")
            )
            broker.unblock_publishers()
            await asyncio.wait_for(publish, 5)
            assert (await queue.declare()).message_count == 2

    asyncio.run(scenario())


def test_aio_pika_robust_connection_survives_restart_with_durable_queue(tmp_path: Path) -> None:
    with BrokerThread(BrokerConfig(port=0, data_dir=str(tmp_path))) as broker:

        async def scenario() -> list[bytes]:
            received: list[bytes] = []
            url = f"{broker.url}?reconnect_interval=0.05"
            async with await aio_pika.connect_robust(url) as connection:
                channel = await connection.channel()
                queue = await channel.declare_queue("jobs", durable=True)
                await channel.default_exchange.publish(
                    aio_pika.Message(b"persisted", delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    "jobs",
                )
                await asyncio.to_thread(broker.restart)

                async def handle(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                    async with message.process():
                        received.append(message.body)

                # Consume once aio-pika has reconnected and restored its channel.
                await broker.wait_for_async(
                    lambda: [c.channels for c in broker.connections()] == [1], timeout=10
                )
                await channel.ready()
                await queue.consume(handle)
                await broker.wait_for_async(lambda: received, timeout=10)
            return received

        assert asyncio.run(scenario()) == [b"persisted"]
