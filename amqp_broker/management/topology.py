# Exchanges, queues and bindings: list, show, declare and delete them over HTTP.
#
# Rules kept here:
# - Declares, deletes and binds go through the broker's calls for them, which share the checks
#   and effects of the AMQP methods (equivalence, reserved names, consumer cancellation, the
#   durable store); their AMQP errors become RabbitMQ's HTTP answers (errors.from_amqp).
# - Each operation needs the caller's permission on the resource, checked as for an AMQP client
#   of that user (configure to declare or delete, write and read to bind).
# - In URLs the default exchange is "amq.default"; in JSON it is "".
# - PUT answers 201 when it created something and 204 when it already existed, as RabbitMQ.
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from amqp_broker import inspection
from amqp_broker.auth import Access, Resource
from amqp_broker.core.vhost import EXCHANGE, QUEUE, VirtualHost
from amqp_broker.management.auth import Caller
from amqp_broker.management.context import ManagementContext
from amqp_broker.management.encoding import parse_arguments, parse_bool
from amqp_broker.management.errors import ApiError, bad_request, not_found
from amqp_broker.management.overview import vhost_or_404, visible_vhosts
from amqp_broker.management.resources import (
    DEFAULT_EXCHANGE_URL_NAME,
    binding_json,
    exchange_json,
    properties_key,
    queue_json,
)
from amqp_broker.management.routing import NoContent, api_route, json_object, param

DESTINATION_TYPES = {"q": QUEUE, "e": EXCHANGE}


def exchange_name(request: Request) -> str:
    name = param(request, "exchange")
    return "" if name == DEFAULT_EXCHANGE_URL_NAME else name


def vhost_for_write(context: ManagementContext, caller: Caller, name: str) -> VirtualHost:
    """The vhost a declare or delete acts on; 404 "vhost_not_found" as RabbitMQ answers."""
    vhost = context.broker.vhosts.get(name)
    if vhost is None or not (
        caller.is_administrator or context.broker.users.may_open(caller.name, name)
    ):
        raise ApiError(404, "not_found", "vhost_not_found")
    return vhost


def vhost_names(context: ManagementContext, caller: Caller, request: Request) -> list[str]:
    """The vhost named in the path (404 if it is not there), or every vhost the caller sees."""
    if "vhost" in request.path_params:
        return [vhost_or_404(context, caller, param(request, "vhost")).name]
    return [info.name for info in visible_vhosts(context, caller)]


def routes(context: ManagementContext) -> list[Route]:
    broker = context.broker

    # ---- exchanges ---------------------------------------------------------------------------

    async def list_exchanges(request: Request, caller: Caller) -> Any:
        return [
            exchange_json(info)
            for vhost in vhost_names(context, caller, request)
            for info in inspection.list_exchanges(broker, vhost)
        ]

    def find_exchange(request: Request, caller: Caller) -> inspection.ExchangeInfo:
        vhost = vhost_or_404(context, caller, param(request, "vhost")).name
        name = exchange_name(request)
        for info in inspection.list_exchanges(broker, vhost):
            if info.name == name:
                return info
        raise not_found()

    async def get_exchange(request: Request, caller: Caller) -> Any:
        return exchange_json(find_exchange(request, caller))

    async def put_exchange(request: Request, caller: Caller) -> Any:
        vhost = vhost_for_write(context, caller, param(request, "vhost"))
        body = await json_object(request)
        name = exchange_name(request)
        caller.check(broker, vhost.name, Access.CONFIGURE, Resource.EXCHANGE, name)
        created = name not in vhost.exchanges
        type_name = body.get("type") or "direct"
        if not isinstance(type_name, str):
            raise bad_request(f"unknown exchange type '{type_name}'")
        broker.declare_exchange(
            vhost,
            name,
            type_name,
            durable=parse_bool(body.get("durable")),
            auto_delete=parse_bool(body.get("auto_delete")),
            internal=parse_bool(body.get("internal")),
            arguments=parse_arguments(body.get("arguments")),
        )
        return NoContent(created=created)

    async def delete_exchange(request: Request, caller: Caller) -> Any:
        vhost = vhost_for_write(context, caller, param(request, "vhost"))
        name = exchange_name(request)
        caller.check(broker, vhost.name, Access.CONFIGURE, Resource.EXCHANGE, name)
        if name and name not in vhost.exchanges:
            raise not_found()
        broker.delete_exchange(vhost, name, request.query_params.get("if-unused") == "true")
        return NoContent()

    async def exchange_bindings(request: Request, caller: Caller) -> Any:
        info = find_exchange(request, caller)
        side = request.path_params["side"]
        if side not in ("source", "destination"):
            raise not_found()
        return [
            binding_json(binding)
            for binding in inspection.list_bindings(broker, info.vhost)
            if (side == "source" and binding.source == info.name)
            or (
                side == "destination"
                and binding.destination_type == EXCHANGE
                and binding.destination == info.name
            )
        ]

    # ---- queues ------------------------------------------------------------------------------

    async def list_queues(request: Request, caller: Caller) -> Any:
        return [
            queue_json(info)
            for vhost in vhost_names(context, caller, request)
            for info in inspection.list_queues(broker, vhost)
        ]

    def find_queue(request: Request, caller: Caller) -> inspection.QueueInfo:
        vhost = vhost_or_404(context, caller, param(request, "vhost")).name
        info = inspection.get_queue(broker, vhost, param(request, "queue"))
        if info is None:
            raise not_found()
        return info

    async def get_queue(request: Request, caller: Caller) -> Any:
        return queue_json(find_queue(request, caller))

    async def put_queue(request: Request, caller: Caller) -> Any:
        vhost = vhost_for_write(context, caller, param(request, "vhost"))
        body = await json_object(request)
        name = param(request, "queue")
        caller.check(broker, vhost.name, Access.CONFIGURE, Resource.QUEUE, name)
        created = name not in vhost.queues
        context.catch_up()
        broker.declare_queue(
            vhost,
            name,
            durable=parse_bool(body.get("durable")),
            auto_delete=parse_bool(body.get("auto_delete")),
            arguments=parse_arguments(body.get("arguments")),
        )
        return NoContent(created=created)

    async def delete_queue(request: Request, caller: Caller) -> Any:
        vhost = vhost_for_write(context, caller, param(request, "vhost"))
        name = param(request, "queue")
        caller.check(broker, vhost.name, Access.CONFIGURE, Resource.QUEUE, name)
        queue = vhost.queues.get(name)
        if queue is None:
            raise not_found()
        if request.query_params.get("if-unused") == "true" and queue.consumers:
            raise vhost.queue_in_use_error(queue)
        if request.query_params.get("if-empty") == "true" and queue.ready_count:
            raise vhost.queue_not_empty_error(queue)
        broker.delete_queue(vhost, queue)
        return NoContent()

    async def queue_bindings(request: Request, caller: Caller) -> Any:
        info = find_queue(request, caller)
        return [
            binding_json(binding)
            for binding in inspection.list_bindings(broker, info.vhost)
            if binding.destination_type == QUEUE and binding.destination == info.name
        ]

    # ---- bindings ----------------------------------------------------------------------------

    def authorize_binding(
        caller: Caller, vhost: VirtualHost, source: str, kind: str, destination: str
    ) -> None:
        """As queue.bind: write on the destination, read on the source exchange."""
        resource = Resource.QUEUE if kind == QUEUE else Resource.EXCHANGE
        caller.check(broker, vhost.name, Access.WRITE, resource, destination)
        caller.check(broker, vhost.name, Access.READ, Resource.EXCHANGE, source)

    async def list_bindings(request: Request, caller: Caller) -> Any:
        return [
            binding_json(info)
            for vhost in vhost_names(context, caller, request)
            for info in inspection.list_bindings(broker, vhost)
        ]

    def binding_ends(request: Request, caller: Caller) -> tuple[str, str, str, str]:
        vhost = vhost_or_404(context, caller, param(request, "vhost")).name
        kind = DESTINATION_TYPES.get(request.path_params["kind"])
        if kind is None:
            raise not_found()
        source = exchange_name(request)
        destination = param(request, "destination")
        return vhost, source, kind, destination

    def bindings_between(request: Request, caller: Caller) -> list[inspection.BindingInfo]:
        vhost, source, kind, destination = binding_ends(request, caller)
        return [
            info
            for info in inspection.list_bindings(broker, vhost)
            if info.source == source
            and info.destination_type == kind
            and info.destination == destination
        ]

    async def get_bindings_between(request: Request, caller: Caller) -> Any:
        return [binding_json(info) for info in bindings_between(request, caller)]

    async def post_binding(request: Request, caller: Caller) -> Any:
        vhost_name, source, kind, destination = binding_ends(request, caller)
        vhost = vhost_for_write(context, caller, vhost_name)
        body = await json_object(request)
        routing_key = body.get("routing_key") or ""
        if not isinstance(routing_key, str):
            raise bad_request("routing_key must be a string")
        arguments = parse_arguments(body.get("arguments"))
        authorize_binding(caller, vhost, source, kind, destination)
        broker.change_binding(
            vhost,
            source,
            (kind, destination),
            routing_key=routing_key,
            arguments=arguments,
            bind=True,
        )
        return NoContent(created=True)

    def find_binding(request: Request, caller: Caller) -> inspection.BindingInfo:
        key = param(request, "props")
        for info in bindings_between(request, caller):
            if properties_key(info.routing_key, info.arguments) == key:
                return info
        raise not_found()

    async def get_binding(request: Request, caller: Caller) -> Any:
        return binding_json(find_binding(request, caller))

    async def delete_binding(request: Request, caller: Caller) -> Any:
        info = find_binding(request, caller)
        vhost = vhost_for_write(context, caller, info.vhost)
        destination = (info.destination_type, info.destination)
        authorize_binding(caller, vhost, info.source, info.destination_type, info.destination)
        broker.change_binding(
            vhost,
            info.source,
            destination,
            routing_key=info.routing_key,
            arguments=info.arguments,
            bind=False,
        )
        return NoContent()

    exchange = "/api/exchanges/{vhost}/{exchange}"
    queue = "/api/queues/{vhost}/{queue}"
    between = "/api/bindings/{vhost}/e/{exchange}/{kind}/{destination}"
    return [
        api_route(context, "/api/exchanges", list_exchanges, paginated=True),
        api_route(context, "/api/exchanges/{vhost}", list_exchanges, paginated=True),
        api_route(context, exchange, get_exchange),
        api_route(context, exchange, put_exchange, ["PUT"]),
        api_route(context, exchange, delete_exchange, ["DELETE"]),
        api_route(context, exchange + "/bindings/{side}", exchange_bindings),
        api_route(context, "/api/queues", list_queues, paginated=True),
        api_route(context, "/api/queues/{vhost}", list_queues, paginated=True),
        api_route(context, queue, get_queue),
        api_route(context, queue, put_queue, ["PUT"]),
        api_route(context, queue, delete_queue, ["DELETE"]),
        api_route(context, queue + "/bindings", queue_bindings),
        api_route(context, "/api/bindings", list_bindings),
        api_route(context, "/api/bindings/{vhost}", list_bindings),
        api_route(context, between, get_bindings_between),
        api_route(context, between, post_binding, ["POST"]),
        api_route(context, between + "/{props}", get_binding),
        api_route(context, between + "/{props}", delete_binding, ["DELETE"]),
    ]
