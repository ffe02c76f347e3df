# The node-wide endpoints: /api/overview, /api/whoami, vhosts and health checks.
#
# Rules kept here:
# - A user without the administrator tag sees only the vhosts it may open, as in RabbitMQ.
from __future__ import annotations

import os
from typing import Any

import trio
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from amqp_broker import inspection
from amqp_broker.management.auth import Caller
from amqp_broker.management.context import ManagementContext
from amqp_broker.management.errors import not_found
from amqp_broker.management.resources import NODE, vhost_json
from amqp_broker.management.routing import NoContent, api_route, param
from amqp_broker.version import RABBITMQ_VERSION

# The RabbitMQ release whose management API this one follows; tools compare against it.
EXCHANGE_TYPES = (
    ("direct", "AMQP direct exchange, as per the AMQP specification"),
    ("fanout", "AMQP fanout exchange, as per the AMQP specification"),
    ("headers", "AMQP headers exchange, as per the AMQP specification"),
    ("topic", "AMQP topic exchange, as per the AMQP specification"),
)


def visible_vhosts(context: ManagementContext, caller: Caller) -> list[inspection.VhostInfo]:
    return [
        info
        for info in inspection.list_vhosts(context.broker)
        if caller.is_administrator or context.broker.users.may_open(caller.name, info.name)
    ]


def vhost_or_404(context: ManagementContext, caller: Caller, name: str) -> inspection.VhostInfo:
    for info in visible_vhosts(context, caller):
        if info.name == name:
            return info
    raise not_found()


def overview(context: ManagementContext, caller: Caller) -> dict[str, Any]:
    broker = context.broker
    rates = context.rates
    vhosts = visible_vhosts(context, caller)
    names = {info.name for info in vhosts}
    queues = [info for info in inspection.list_queues(broker) if info.vhost in names]
    ready = sum(info.messages_ready for info in queues)
    unacked = sum(info.messages_unacknowledged for info in queues)
    message_stats: dict[str, Any] = {}
    for name, total in (
        ("publish", broker.messages_published),
        ("deliver_get", broker.messages_delivered),
        ("ack", broker.messages_acknowledged),
    ):
        message_stats[name] = total
        message_stats[f"{name}_details"] = {"rate": rates.rate(name)}
    return {
        "management_version": RABBITMQ_VERSION,
        "rabbitmq_version": RABBITMQ_VERSION,
        "product_name": broker.config.product_name,
        "product_version": broker.config.product_version,
        "cluster_name": NODE,
        "node": NODE,
        "rates_mode": "basic",
        "disable_stats": False,
        "exchange_types": [
            {"name": name, "description": description, "enabled": True}
            for name, description in EXCHANGE_TYPES
        ],
        "message_stats": message_stats,
        "queue_totals": {
            "messages": ready + unacked,
            "messages_ready": ready,
            "messages_unacknowledged": unacked,
        },
        "object_totals": {
            "connections": len(inspection.list_connections(broker)),
            "channels": len(inspection.list_channels(broker)),
            "consumers": len(inspection.list_consumers(broker)),
            "exchanges": sum(
                1 for info in inspection.list_exchanges(broker) if info.vhost in names
            ),
            "queues": len(queues),
        },
        "statistics_db_event_queue": 0,
        # Where the management API listens; AMQPStorm reads the node name from here.
        "contexts": [
            {
                "node": NODE,
                "description": "RabbitMQ Management",
                "path": "/",
                "ip": "127.0.0.1",
                "port": str(context.http_port),
            }
        ],
        "listeners": [
            {
                "node": NODE,
                "protocol": "amqp",
                "ip_address": broker.config.host,
                "port": context.amqp_port,
            },
            {
                "node": NODE,
                "protocol": "http",
                "ip_address": "127.0.0.1",
                "port": context.http_port,
            },
        ],
    }


def node(context: ManagementContext) -> dict[str, Any]:
    """The one node this broker is, in /api/nodes' shape (what cluster health tools read)."""
    broker = context.broker
    return {
        "name": NODE,
        "type": "disc",
        "running": True,
        "os_pid": str(os.getpid()),
        "processors": os.cpu_count() or 1,
        "uptime": int((trio.current_time() - context.started) * 1000),
        "mem_used": broker.meter.used,
        "mem_limit": broker.config.memory_high_watermark,
        "mem_alarm": broker.publishers_blocked,
        "disk_free_alarm": False,
        "partitions": [],
        "rates_mode": "basic",
        "exchange_types": [
            {"name": name, "description": description, "enabled": True}
            for name, description in EXCHANGE_TYPES
        ],
    }


def routes(context: ManagementContext) -> list[Route]:
    broker = context.broker

    async def get_overview(request: Request, caller: Caller) -> Any:
        return overview(context, caller)

    async def whoami(request: Request, caller: Caller) -> Any:
        return {"name": caller.name, "tags": list(caller.tags)}

    async def list_vhosts(request: Request, caller: Caller) -> Any:
        return [vhost_json(info) for info in visible_vhosts(context, caller)]

    async def get_vhost(request: Request, caller: Caller) -> Any:
        return vhost_json(vhost_or_404(context, caller, param(request, "vhost")))

    async def put_vhost(request: Request, caller: Caller) -> Any:
        name = param(request, "vhost")
        created = name not in broker.vhosts
        broker.add_vhost(name)
        return NoContent(created=created)

    async def delete_vhost(request: Request, caller: Caller) -> Any:
        name = param(request, "vhost")
        if name not in broker.vhosts:
            raise not_found()
        broker.delete_vhost(name)
        return NoContent()

    async def healthy(request: Request, caller: Caller) -> Any:
        return {"status": "ok"}

    async def alarms(request: Request, caller: Caller) -> Any:
        """503 while the memory alarm blocks publishers, as RabbitMQ's alarm health check."""
        if not broker.publishers_blocked:
            return {"status": "ok"}
        body = {
            "status": "failed",
            "reason": "resource alarm(s) in effect in the cluster",
            "alarms": [{"node": NODE, "resource": "memory"}],
        }
        return JSONResponse(body, status_code=503)

    async def nodes(request: Request, caller: Caller) -> Any:
        return [node(context)]

    def this_node(request: Request) -> None:
        """404 unless the path names this broker's node (a cluster of one)."""
        if param(request, "node") != NODE:
            raise not_found()

    async def get_node(request: Request, caller: Caller) -> Any:
        this_node(request)
        return node(context)

    async def node_healthy(request: Request, caller: Caller) -> Any:
        this_node(request)
        return {"status": "ok"}

    async def cluster_name(request: Request, caller: Caller) -> Any:
        return {"name": NODE}

    return [
        api_route(context, "/api/overview", get_overview),
        api_route(context, "/api/whoami", whoami),
        api_route(context, "/api/vhosts", list_vhosts, paginated=True),
        api_route(context, "/api/vhosts/{vhost}", get_vhost),
        api_route(context, "/api/vhosts/{vhost}", put_vhost, ["PUT"], administrator=True),
        api_route(context, "/api/vhosts/{vhost}", delete_vhost, ["DELETE"], administrator=True),
        api_route(context, "/api/healthchecks/node", healthy),
        api_route(context, "/api/health/checks/alarms", alarms),
        api_route(context, "/api/health/checks/local-alarms", alarms),
        api_route(context, "/api/nodes", nodes),
        api_route(context, "/api/nodes/{node}", get_node),
        api_route(context, "/api/healthchecks/node/{node}", node_healthy),
        api_route(context, "/api/cluster-name", cluster_name),
    ]
