# The testing toolkit's faults and resets over HTTP, for tests in another process or language:
# what `BrokerThread`'s controls do in-process (docs/testing.md), under /api/testing/. These are
# ours, not RabbitMQ's: its API has no such paths. Administrators only.
#
#   POST   /api/testing/connections/{name}/drop     TCP reset, no AMQP close
#   POST   /api/testing/connections/{name}/freeze   nothing read or sent (no heartbeats)
#   POST   /api/testing/connections/{name}/thaw
#   PUT    /api/testing/block-publishers            connection.blocked, publishers not read
#   DELETE /api/testing/block-publishers
#   POST   /api/testing/vhosts/{vhost}/reset        everything but the predeclared exchanges
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from amqp_broker import inspection
from amqp_broker.broker import ClientConnection
from amqp_broker.management.auth import Caller
from amqp_broker.management.context import ManagementContext
from amqp_broker.management.errors import not_found
from amqp_broker.management.overview import vhost_or_404
from amqp_broker.management.routing import NoContent, api_route, param


def routes(context: ManagementContext) -> list[Route]:
    def connection(request: Request) -> ClientConnection:
        """The open connection named as /api/connections names it, or RabbitMQ's 404."""
        name = param(request, "connection")
        for info in inspection.list_connections(context.broker):
            conn = context.broker.connections.get(info.number)
            if info.name == name and conn is not None:
                return conn
        raise not_found()

    async def drop(request: Request, caller: Caller) -> Any:
        context.server.drop_connection(connection(request))
        return NoContent()

    async def freeze(request: Request, caller: Caller) -> Any:
        context.server.freeze(connection(request))
        return NoContent()

    async def thaw(request: Request, caller: Caller) -> Any:
        context.server.freeze(connection(request), False)
        return NoContent()

    async def block(request: Request, caller: Caller) -> Any:
        context.broker.set_alarm(True)
        return NoContent()

    async def unblock(request: Request, caller: Caller) -> Any:
        context.broker.set_alarm(False)
        return NoContent()

    async def reset(request: Request, caller: Caller) -> Any:
        vhost = vhost_or_404(context, caller, param(request, "vhost"))
        context.broker.reset_vhost(vhost.name)
        return NoContent()

    connection_path = "/api/testing/connections/{connection}"
    return [
        api_route(context, connection_path + "/drop", drop, ["POST"], administrator=True),
        api_route(context, connection_path + "/freeze", freeze, ["POST"], administrator=True),
        api_route(context, connection_path + "/thaw", thaw, ["POST"], administrator=True),
        api_route(context, "/api/testing/block-publishers", block, ["PUT"], administrator=True),
        api_route(
            context, "/api/testing/block-publishers", unblock, ["DELETE"], administrator=True
        ),
        api_route(
            context, "/api/testing/vhosts/{vhost}/reset", reset, ["POST"], administrator=True
        ),
    ]
