# The management API as one ASGI application (starlette): RabbitMQ's management paths under /api
# and Prometheus metrics at /metrics.
#
# Rules kept here:
# - Paths are matched on the raw, still percent-encoded path, as RabbitMQ (cowboy) does: the
#   default vhost "/" arrives as %2F and must stay one path segment.
# - A path that names nothing gets RabbitMQ's 404 body; other HTTP-level refusals (405) are bare.
from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from amqp_broker.management import (
    clients,
    definitions,
    faults,
    messages,
    metrics,
    overview,
    topology,
    users,
)
from amqp_broker.management.context import ManagementContext
from amqp_broker.management.errors import not_found
from amqp_broker.management.routing import error_response


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404:
        return error_response(not_found())
    return Response(status_code=status)


class RawPathRouting:
    """Route on the percent-encoded path so that %2F stays inside one segment."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path")
        if scope["type"] == "http" and raw:
            scope = dict(scope)
            scope["path"] = raw.decode("latin-1").split("?", 1)[0]
        await self.app(scope, receive, send)


def build_app(context: ManagementContext) -> ASGIApp:
    """The whole API: RabbitMQ's management paths under /api, and Prometheus at /metrics."""
    routes: list[BaseRoute] = []
    for module in (overview, users, topology, messages, clients, definitions, metrics, faults):
        routes.extend(module.routes(context))
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error},
    )
    return RawPathRouting(app)
