# Messages over HTTP: publish to an exchange, get (peek) from a queue, purge a queue, and the
# aliveness test (a message round trip).
#
# Rules kept here:
# - Publishing goes through amqp_broker.injection.publish: the checks, routing and dispatch to
#   consumers of basic.publish. A get takes messages as basic.get does and then requeues them
#   (marked redelivered, in their original places: RabbitMQ's ack_requeue_true) or drops them.
# - Errors and their bodies are RabbitMQ 3.10.8's, measured: a publish to a missing exchange is
#   400 with "404 NOT_FOUND - ..." as the reason; a get from a missing queue is 404 with
#   "NOT_FOUND - ...".
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from amqp_broker import injection
from amqp_broker.auth import Access, Resource
from amqp_broker.errors import AMQPError
from amqp_broker.inspection import message_properties
from amqp_broker.management.auth import Caller
from amqp_broker.management.context import ManagementContext
from amqp_broker.management.encoding import (
    decode_payload,
    encode_payload,
    parse_int,
    properties_from_json,
    require,
    to_json,
)
from amqp_broker.management.errors import ApiError, bad_request, not_found
from amqp_broker.management.routing import NoContent, api_route, json_object, param
from amqp_broker.management.topology import exchange_name, vhost_for_write

ALIVENESS_QUEUE = "aliveness-test"
REQUEUE_MODES = {
    "ack_requeue_true": True,
    "reject_requeue_true": True,
    "ack_requeue_false": False,
    "reject_requeue_false": False,
}


def routes(context: ManagementContext) -> list[Route]:
    broker = context.broker

    async def publish(request: Request, caller: Caller) -> Any:
        vhost = vhost_for_write(context, caller, param(request, "vhost"))
        body = await json_object(request)
        require(body, "routing_key", "properties", "payload", "payload_encoding")
        routing_key = body["routing_key"]
        if not isinstance(routing_key, str):
            raise bad_request("routing_key must be a string")
        properties = properties_from_json(body["properties"])
        payload = decode_payload(body["payload"], body["payload_encoding"])
        context.catch_up()
        name = exchange_name(request)
        try:
            caller.check(broker, vhost.name, Access.WRITE, Resource.EXCHANGE, name)
            queues = injection.publish(
                broker,
                vhost.name,
                name,
                routing_key,
                payload,
                properties=properties,
            )
        except AMQPError as error:
            # RabbitMQ's answer quotes the AMQP error whole: "404 NOT_FOUND - no exchange ..."
            raise bad_request(f"{int(error.code)} {error.text}") from error
        return {"routed": bool(queues)}

    async def get(request: Request, caller: Caller) -> Any:
        vhost = vhost_for_write(context, caller, param(request, "vhost"))
        body = await json_object(request)
        require(body, "count", "ackmode", "encoding")
        count = parse_int(body["count"], "count")
        requeue = REQUEUE_MODES.get(body["ackmode"])
        if requeue is None:
            raise bad_request(["unknown_ackmode", body["ackmode"]])
        encoding = body["encoding"]
        if encoding not in ("auto", "base64"):
            raise bad_request(["unsupported_encoding", encoding])
        truncate = parse_int(body["truncate"], "truncate") if body.get("truncate") else None
        name = param(request, "queue")
        queue = vhost.queues.get(name)
        if queue is None:
            detail = f"NOT_FOUND - no queue '{name}' in vhost '{vhost.name}'"
            raise ApiError(404, "not_found", detail)
        caller.check(broker, vhost.name, Access.READ, Resource.QUEUE, name)
        vhost.check_exclusive_access(queue, None)
        remaining = queue.ready_count
        context.catch_up()
        taken = broker.take_messages(queue, count)
        answers = []
        for entry in taken:
            remaining -= 1
            message = entry.message
            properties = message_properties(message.properties, message.properties_raw)
            payload, payload_encoding = encode_payload(message.body[:truncate], encoding)
            answers.append(
                {
                    "payload_bytes": len(message.body),
                    "redelivered": entry.redelivered,
                    "exchange": message.exchange,
                    "routing_key": message.routing_key,
                    "message_count": remaining,
                    # RabbitMQ's JSON encoder writes an empty property list as []
                    "properties": to_json(properties) if properties else [],
                    "payload": payload,
                    "payload_encoding": payload_encoding,
                }
            )
        broker.settle_taken(queue, taken, requeue)
        return answers

    async def purge(request: Request, caller: Caller) -> Any:
        vhost = vhost_for_write(context, caller, param(request, "vhost"))
        name = param(request, "queue")
        caller.check(broker, vhost.name, Access.READ, Resource.QUEUE, name)
        queue = vhost.queues.get(name)
        if queue is None:
            raise not_found()
        broker.purge_queue(queue)
        return NoContent()

    async def aliveness(request: Request, caller: Caller) -> Any:
        """RabbitMQ's aliveness test: declare the queue "aliveness-test", publish a message to
        it and get it back (the queue stays, as in RabbitMQ)."""
        vhost = vhost_for_write(context, caller, param(request, "vhost"))
        context.catch_up()
        queue = broker.declare_queue(
            vhost, ALIVENESS_QUEUE, durable=False, auto_delete=False, arguments={}
        )
        injection.publish(broker, vhost.name, "", ALIVENESS_QUEUE, b"test_message")
        taken = broker.take_messages(queue, 1)
        broker.settle_taken(queue, taken, requeue=False)
        if not taken:
            return {"status": "failed", "reason": "the test message did not come back"}
        return {"status": "ok"}

    return [
        api_route(context, "/api/aliveness-test/{vhost}", aliveness),
        api_route(context, "/api/exchanges/{vhost}/{exchange}/publish", publish, ["POST"]),
        api_route(context, "/api/queues/{vhost}/{queue}/get", get, ["POST"]),
        api_route(context, "/api/queues/{vhost}/{queue}/contents", purge, ["DELETE"]),
    ]
