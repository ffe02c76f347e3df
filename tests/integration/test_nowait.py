# `nowait` on every method that has it: no reply is sent, the method still takes effect, and a
# failure still closes the channel or connection with the code it would have had, arriving later.
# Byte-level checks use the raw client (so a stray reply cannot hide); client-level ones aiormq.
from __future__ import annotations

import asyncio
from typing import Any

import aiormq
import aiormq.exceptions
import pytest
import trio
from amqp_raw_client import RawClient
from pamqp import commands

from amqp_broker.testing import open_broker

NOWAIT_METHODS: list[commands.Frame] = [
    commands.Exchange.Declare(exchange="nw-x", exchange_type="fanout", nowait=True),
    commands.Exchange.Declare(exchange="nw-y", exchange_type="direct", nowait=True),
    commands.Exchange.Bind(destination="nw-y", source="nw-x", routing_key="k", nowait=True),
    commands.Queue.Declare(queue="nw-q", nowait=True),
    commands.Queue.Bind(queue="nw-q", exchange="nw-x", routing_key="k", nowait=True),
    commands.Basic.Consume(queue="nw-q", consumer_tag="nw-c", nowait=True),
    commands.Basic.Cancel(consumer_tag="nw-c", nowait=True),
    commands.Basic.Consume(queue="amq.rabbitmq.reply-to", no_ack=True, nowait=True),
    commands.Queue.Declare(queue="amq.rabbitmq.reply-to", nowait=True),
    commands.Queue.Purge(queue="nw-q", nowait=True),
    commands.Exchange.Unbind(destination="nw-y", source="nw-x", routing_key="k", nowait=True),
    commands.Queue.Delete(queue="nw-q", nowait=True),
    commands.Queue.Delete(queue="nw-missing", nowait=True),
    commands.Exchange.Delete(exchange="nw-y", nowait=True),
    commands.Exchange.Delete(exchange="nw-missing", nowait=True),
    commands.Confirm.Select(nowait=True),
]


async def test_nowait_methods_send_no_reply_and_take_effect() -> None:
    with trio.fail_after(5):
        async with open_broker() as broker:
            client = await RawClient.connect(broker.port)
            await client.handshake()
            await client.open_channel(1)
            for method in NOWAIT_METHODS:
                await client.send_method(1, method)
            # The next synchronous method's reply is the first thing the server sends back.
            await client.send_method(1, commands.Basic.Qos(prefetch_count=5))
            assert isinstance((await client.read_method())[1], commands.Basic.QosOk)
            # Their effects are there: nw-x exists, nw-q and nw-y are gone, confirms are on.
            await client.send_method(1, commands.Exchange.Declare(exchange="nw-x", passive=True))
            assert isinstance((await client.read_method())[1], commands.Exchange.DeclareOk)
            await client.publish(1, "nowhere", b"confirmed")
            channel, ack = await client.read_method()
            assert (channel, type(ack), ack.delivery_tag) == (1, commands.Basic.Ack, 1)
            await client.send_method(1, commands.Queue.Declare(queue="nw-q", passive=True))
            channel, close = await client.read_method()
            assert isinstance(close, commands.Channel.Close)
            assert close.reply_code == 404
            await client.aclose()


def _run(coroutine: Any) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(coroutine, timeout=5)

    asyncio.run(bounded())


def test_aiormq_nowait_variants_work(amqp_url: str) -> None:
    async def scenario() -> None:
        connection = await aiormq.connect(amqp_url)
        try:
            channel = await connection.channel()
            assert (
                await channel.exchange_declare("aio-nw", exchange_type="topic", nowait=True) is None
            )
            assert await channel.queue_declare("aio-nw-q", nowait=True) is None
            assert (
                await channel.queue_bind("aio-nw-q", "aio-nw", routing_key="#", nowait=True) is None
            )
            await channel.basic_publish(b"one", exchange="aio-nw", routing_key="a.b")
            assert await channel.queue_purge("aio-nw-q", nowait=True) is None
            declared = await channel.queue_declare("aio-nw-q", passive=True)
            assert (declared.message_count, declared.consumer_count) == (0, 0)
            assert await channel.queue_delete("aio-nw-q", nowait=True) is None
            assert await channel.exchange_delete("aio-nw", nowait=True) is None
            with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity):
                await channel.queue_declare("aio-nw-q", passive=True)
        finally:
            await connection.close()

    _run(scenario())


@pytest.mark.parametrize(
    ("failing", "error", "connection_level"),
    [
        ("inequivalent_queue", aiormq.exceptions.ChannelPreconditionFailed, False),
        ("bind_missing_queue", aiormq.exceptions.ChannelNotFoundEntity, False),
        ("purge_missing_queue", aiormq.exceptions.ChannelNotFoundEntity, False),
        ("delete_queue_if_empty", aiormq.exceptions.ChannelPreconditionFailed, False),
        ("exchange_reserved_name", aiormq.exceptions.ChannelAccessRefused, False),
        ("unknown_exchange_type", aiormq.exceptions.ConnectionCommandInvalid, True),
    ],
)
def test_aiormq_nowait_failure_closes_asynchronously_with_the_right_code(
    amqp_url: str, failing: str, error: type[Exception], connection_level: bool
) -> None:
    async def scenario() -> None:
        connection = await aiormq.connect(amqp_url)
        try:
            channel = await connection.channel()
            await channel.queue_declare("aio-nw-full")
            await channel.basic_publish(b"x", routing_key="aio-nw-full")
            request: Any
            if failing == "inequivalent_queue":
                request = channel.queue_declare("aio-nw-full", durable=True, nowait=True)
            elif failing == "bind_missing_queue":
                request = channel.queue_bind("aio-nw-none", "amq.direct", nowait=True)
            elif failing == "purge_missing_queue":
                request = channel.queue_purge("aio-nw-none", nowait=True)
            elif failing == "delete_queue_if_empty":
                request = channel.queue_delete("aio-nw-full", if_empty=True, nowait=True)
            elif failing == "exchange_reserved_name":
                request = channel.exchange_declare("amq.nw", nowait=True)
            else:
                request = channel.exchange_declare("aio-nw-x", exchange_type="bogus", nowait=True)
            assert await request is None  # no reply waited for
            with pytest.raises(error):
                await channel.basic_qos(prefetch_count=1)  # the close arrives in its place
            if connection_level:
                assert connection.is_closed
            else:
                assert not connection.is_closed
                again = await connection.channel()
                await again.queue_declare("aio-nw-after")
        finally:
            if not connection.is_closed:
                await connection.close()

    _run(scenario())
