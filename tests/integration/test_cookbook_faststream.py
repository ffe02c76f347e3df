# Cookbook (docs/testing.md): testing a FastStream service against a real broker instead of
# FastStream's in-memory TestRabbitBroker, so exchanges, bindings and acks really happen.
from __future__ import annotations

import asyncio

from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange, RabbitQueue

from amqp_broker.testing import BrokerThread

# ---- the application code under test ----------------------------------------------------------

PAYMENTS = RabbitExchange("payments", type=ExchangeType.TOPIC)


def make_service(url: str) -> RabbitBroker:
    broker = RabbitBroker(url, logger=None)

    @broker.subscriber(RabbitQueue("charge", routing_key="charge.*"), PAYMENTS)
    @broker.publisher("receipts")
    async def charge(request: dict[str, int]) -> dict[str, int]:
        return {"order": request["order"], "charged": request["cents"]}

    return broker


# ---- the tests --------------------------------------------------------------------------------


def test_charge_request_produces_a_receipt(
    amqp_broker: BrokerThread, amqp_vhost: str, amqp_url: str
) -> None:
    async def scenario() -> None:
        async with make_service(amqp_url) as service:
            await service.start()
            await service.declare_queue(RabbitQueue("receipts"))

            # A client elsewhere publishes a request through the topic exchange.
            await service.publish({"order": 1, "cents": 250}, "charge.card", exchange=PAYMENTS)

            await amqp_broker.wait_for_async(
                amqp_broker.queue_has("receipts", ready=1, vhost=amqp_vhost)
            )
            [receipt] = amqp_broker.peek("receipts", vhost=amqp_vhost)
            assert receipt.body == b'{"order":1,"charged":250}'
            # FastStream acks the request after the handler returned.
            await amqp_broker.wait_for_async(amqp_broker.acked("charge", vhost=amqp_vhost))
            assert amqp_broker.queue("charge", vhost=amqp_vhost).messages == 0

    asyncio.run(scenario())


def test_binding_is_made_as_declared(
    amqp_broker: BrokerThread, amqp_vhost: str, amqp_url: str
) -> None:
    async def scenario() -> None:
        async with make_service(amqp_url) as service:
            await service.start()
            bindings = amqp_broker.bindings(amqp_vhost)
            assert [(b.source, b.destination, b.routing_key) for b in bindings][-1] == (
                "payments",
                "charge",
                "charge.*",
            )

    asyncio.run(scenario())
