# Connections, channels and consumers: list them, and close a connection (320 CONNECTION_FORCED,
# "Closed via management plugin", as RabbitMQ sends it).
#
# Rules kept here:
# - Administrators and monitoring users see every client; other management users see their own
#   connections only, as in RabbitMQ.
# - Closing goes through Broker.force_close, the same path as a shutdown: the client gets
#   Connection.Close and its unacked messages are requeued when it goes.
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from amqp_broker import inspection
from amqp_broker.management.auth import Caller
from amqp_broker.management.context import ManagementContext
from amqp_broker.management.errors import not_found
from amqp_broker.management.overview import vhost_or_404
from amqp_broker.management.resources import channel_json, connection_json, consumer_json
from amqp_broker.management.routing import NoContent, api_route, param

CLOSE_REASON = "Closed via management plugin"


def _sees_everyone(caller: Caller) -> bool:
    return caller.is_administrator or "monitoring" in caller.tags


def routes(context: ManagementContext) -> list[Route]:
    broker = context.broker

    def connections(request: Request, caller: Caller) -> dict[int, inspection.ConnectionInfo]:
        vhost = None
        if "vhost" in request.path_params:
            vhost = vhost_or_404(context, caller, param(request, "vhost")).name
        return {
            info.number: info
            for info in inspection.list_connections(broker)
            if (_sees_everyone(caller) or info.user == caller.name)
            and (vhost is None or info.vhost == vhost)
        }

    def find_connection(request: Request, caller: Caller) -> inspection.ConnectionInfo:
        name = param(request, "connection")
        for info in connections(request, caller).values():
            if info.name == name:
                return info
        raise not_found()

    async def list_connections(request: Request, caller: Caller) -> Any:
        return [
            connection_json(info, context.amqp_port)
            for info in connections(request, caller).values()
        ]

    async def get_connection(request: Request, caller: Caller) -> Any:
        return connection_json(find_connection(request, caller), context.amqp_port)

    async def close_connection(request: Request, caller: Caller) -> Any:
        info = find_connection(request, caller)
        conn = broker.connections.get(info.number)
        if conn is not None:
            broker.force_close(conn, request.headers.get("x-reason") or CLOSE_REASON)
        return NoContent()

    def channels(request: Request, caller: Caller) -> list[Any]:
        visible = connections(request, caller)
        return [
            channel_json(info, visible[info.connection])
            for info in inspection.list_channels(broker)
            if info.connection in visible
        ]

    async def list_channels(request: Request, caller: Caller) -> Any:
        return channels(request, caller)

    async def connection_channels(request: Request, caller: Caller) -> Any:
        info = find_connection(request, caller)
        return [
            channel_json(channel, info)
            for channel in inspection.list_channels(broker)
            if channel.connection == info.number
        ]

    async def get_channel(request: Request, caller: Caller) -> Any:
        name = param(request, "channel")
        for channel in channels(request, caller):
            if channel["name"] == name:
                return channel
        raise not_found()

    async def list_consumers(request: Request, caller: Caller) -> Any:
        visible = connections(request, caller)
        return [
            consumer_json(info, visible[info.connection])
            for info in inspection.list_consumers(broker)
            if info.connection in visible
        ]

    connection = "/api/connections/{connection}"
    return [
        api_route(context, "/api/connections", list_connections, paginated=True),
        api_route(context, "/api/vhosts/{vhost}/connections", list_connections, paginated=True),
        api_route(context, connection, get_connection),
        api_route(context, connection, close_connection, ["DELETE"]),
        api_route(context, connection + "/channels", connection_channels),
        api_route(context, "/api/channels", list_channels, paginated=True),
        api_route(context, "/api/vhosts/{vhost}/channels", list_channels, paginated=True),
        api_route(context, "/api/channels/{channel}", get_channel),
        api_route(context, "/api/consumers", list_consumers),
        api_route(context, "/api/consumers/{vhost}", list_consumers),
    ]
