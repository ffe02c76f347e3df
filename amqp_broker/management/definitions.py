# Definitions: export and import the broker's topology as RabbitMQ's definitions JSON
# (GET/POST /api/definitions, and per vhost /api/definitions/{vhost}).
#
# Rules kept here:
# - The export has RabbitMQ's layout and field names, so a file exported here loads into
#   RabbitMQ (rabbitmqadmin import, the management UI) and the other way round.
# - Predeclared exchanges (amq.*, the default one), exclusive queues and the default exchange's
#   implicit bindings are not exported, as RabbitMQ leaves them out.
# - An import applies vhosts, users and permissions (hashes as they are), then exchanges, queues
#   and bindings, through the same calls as AMQP declares; a reference to a vhost that neither
#   exists nor is in the file is a 400 before anything is applied.
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from amqp_broker import inspection
from amqp_broker.broker import Broker
from amqp_broker.core.vhost import PREDECLARED, VirtualHost
from amqp_broker.management.auth import Caller
from amqp_broker.management.context import ManagementContext
from amqp_broker.management.encoding import parse_arguments, parse_bool, to_json
from amqp_broker.management.errors import ApiError, bad_request
from amqp_broker.management.overview import vhost_or_404
from amqp_broker.management.routing import NoContent, api_route, json_body, param
from amqp_broker.management.users import permission_json, put_user, set_permissions, user_json
from amqp_broker.version import RABBITMQ_VERSION

_SECTIONS = ("vhosts", "users", "permissions", "exchanges", "queues", "bindings")


def _exported_exchange(info: inspection.ExchangeInfo) -> bool:
    return info.name != "" and info.name not in PREDECLARED and not info.name.startswith("amq.")


def topology(broker: Broker, vhost: str | None) -> dict[str, list[dict[str, Any]]]:
    """Exchanges, queues and bindings as definitions list them (with "vhost" when exporting
    the whole broker, without it for one vhost)."""

    def place(entry: dict[str, Any], name: str) -> dict[str, Any]:
        return entry if vhost is not None else {**entry, "vhost": name}

    queues = [
        place(
            {
                "name": info.name,
                "durable": info.durable,
                "auto_delete": info.auto_delete,
                "arguments": to_json(info.arguments),
            },
            info.vhost,
        )
        for info in inspection.list_queues(broker, vhost)
        if not info.exclusive
    ]
    exchanges = [
        place(
            {
                "name": info.name,
                "type": info.type,
                "durable": info.durable,
                "auto_delete": info.auto_delete,
                "internal": info.internal,
                "arguments": to_json(info.arguments),
            },
            info.vhost,
        )
        for info in inspection.list_exchanges(broker, vhost)
        if _exported_exchange(info)
    ]
    exclusive = {
        (info.vhost, info.name) for info in inspection.list_queues(broker) if info.exclusive
    }
    bindings = [
        place(
            {
                "source": info.source,
                "destination": info.destination,
                "destination_type": info.destination_type,
                "routing_key": info.routing_key,
                "arguments": to_json(info.arguments),
            },
            info.vhost,
        )
        for info in inspection.list_bindings(broker, vhost)
        if info.source != ""
        and not (info.destination_type == "queue" and (info.vhost, info.destination) in exclusive)
    ]
    return {"queues": queues, "exchanges": exchanges, "bindings": bindings}


def export_all(context: ManagementContext) -> dict[str, Any]:
    broker = context.broker
    return {
        "rabbit_version": RABBITMQ_VERSION,
        "rabbitmq_version": RABBITMQ_VERSION,
        "product_name": broker.config.product_name,
        "product_version": broker.config.product_version,
        "users": [user_json(user) for user in broker.users.users()],
        "vhosts": [{"name": name} for name in broker.vhosts],
        "permissions": [permission_json(record) for record in broker.users.permissions()],
        "topic_permissions": [],
        "parameters": [],
        "global_parameters": [],
        "policies": [],
        **topology(broker, None),
    }


def _entries(definitions: dict[str, Any], section: str) -> list[dict[str, Any]]:
    entries = definitions.get(section) or []
    if not isinstance(entries, list) or not all(isinstance(item, dict) for item in entries):
        raise bad_request(["invalid_definitions", section])
    return entries


def _text(entry: dict[str, Any], key: str, default: str | None = None) -> str:
    value = entry.get(key, default)
    if not isinstance(value, str):
        raise bad_request(["key_missing", key])
    return value


def import_definitions(broker: Broker, definitions: Any, vhost: str | None) -> None:
    """Apply a definitions document; with `vhost`, every object goes into that vhost."""
    if not isinstance(definitions, dict):
        raise bad_request("failed_to_parse_json")
    sections = {section: _entries(definitions, section) for section in _SECTIONS}
    known = set(broker.vhosts) | {_text(entry, "name") for entry in sections["vhosts"]}
    for section in ("exchanges", "queues", "bindings"):
        for entry in sections[section]:
            name = vhost if vhost is not None else _text(entry, "vhost")
            if name not in known:
                raise bad_request(["no_such_vhost", name])
    for entry in sections["vhosts"]:
        broker.add_vhost(_text(entry, "name"))
    for entry in sections["users"]:
        put_user(broker.users, _text(entry, "name"), entry)
    for entry in sections["permissions"]:
        name = _text(entry, "vhost")
        if name not in broker.vhosts:
            raise bad_request(["no_such_vhost", name])
        set_permissions(broker.users, _text(entry, "user"), name, entry)

    def target(entry: dict[str, Any]) -> VirtualHost:
        return broker.vhosts[vhost if vhost is not None else _text(entry, "vhost")]

    for entry in sections["exchanges"]:
        broker.declare_exchange(
            target(entry),
            _text(entry, "name"),
            _text(entry, "type", "direct"),
            durable=parse_bool(entry.get("durable")),
            auto_delete=parse_bool(entry.get("auto_delete")),
            internal=parse_bool(entry.get("internal")),
            arguments=parse_arguments(entry.get("arguments")),
        )
    for entry in sections["queues"]:
        broker.declare_queue(
            target(entry),
            _text(entry, "name"),
            durable=parse_bool(entry.get("durable")),
            auto_delete=parse_bool(entry.get("auto_delete")),
            arguments=parse_arguments(entry.get("arguments")),
        )
    for entry in sections["bindings"]:
        kind = _text(entry, "destination_type", "queue")
        if kind not in ("queue", "exchange"):
            raise bad_request(["invalid_destination_type", kind])
        broker.change_binding(
            target(entry),
            _text(entry, "source"),
            (kind, _text(entry, "destination")),
            routing_key=_text(entry, "routing_key", ""),
            arguments=parse_arguments(entry.get("arguments")),
            bind=True,
        )


def routes(context: ManagementContext) -> list[Route]:
    broker = context.broker

    async def export_broker(request: Request, caller: Caller) -> Any:
        return export_all(context)

    async def export_vhost(request: Request, caller: Caller) -> Any:
        name = vhost_or_404(context, caller, param(request, "vhost")).name
        return {
            "rabbit_version": RABBITMQ_VERSION,
            "parameters": [],
            "policies": [],
            **topology(broker, name),
        }

    async def load(request: Request, caller: Caller) -> Any:
        vhost = None
        if "vhost" in request.path_params:
            vhost = vhost_or_404(context, caller, param(request, "vhost")).name
        try:
            body = await json_body(request)
        except ApiError:
            raise bad_request("failed_to_parse_json") from None
        context.catch_up()
        import_definitions(broker, body, vhost)
        return NoContent()

    return [
        api_route(context, "/api/definitions", export_broker, administrator=True),
        api_route(context, "/api/definitions", load, ["POST"], administrator=True),
        api_route(context, "/api/definitions/{vhost}", export_vhost, administrator=True),
        api_route(context, "/api/definitions/{vhost}", load, ["POST"], administrator=True),
    ]
