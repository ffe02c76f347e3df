# The management API's JSON objects, built from amqp_broker.inspection's snapshots with the field
# names RabbitMQ 3.10's management plugin uses.
#
# Rules kept here:
# - Only fields RabbitMQ also sends, with the same names and JSON types (tests compare the key
#   sets with a real RabbitMQ's answers). Statistics we do not keep are left out rather than
#   invented.
# - Names in these objects are the real names ("" for the default exchange); URLs use
#   "amq.default" for it, as RabbitMQ does.
from __future__ import annotations

import base64
import hashlib
import json
import urllib.parse
from typing import Any

from amqp_broker import inspection
from amqp_broker.management.encoding import to_json

NODE = "amqp-broker@localhost"
DEFAULT_EXCHANGE_URL_NAME = "amq.default"


def vhost_json(info: inspection.VhostInfo) -> dict[str, Any]:
    description = "Default virtual host" if info.name == "/" else ""
    return {
        "name": info.name,
        "description": description,
        "tags": [],
        "default_queue_type": "undefined",
        "metadata": {"description": description, "tags": []},
        "tracing": False,
        "cluster_state": {NODE: "running"},
        "messages": info.messages,
        "messages_ready": info.messages_ready,
        "messages_unacknowledged": info.messages_unacknowledged,
    }


def exchange_json(info: inspection.ExchangeInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "vhost": info.vhost,
        "type": info.type,
        "durable": info.durable,
        "auto_delete": info.auto_delete,
        "internal": info.internal,
        "arguments": to_json(info.arguments),
    }


def queue_json(info: inspection.QueueInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "vhost": info.vhost,
        "durable": info.durable,
        "auto_delete": info.auto_delete,
        "exclusive": info.exclusive,
        "arguments": to_json(info.arguments),
        "node": NODE,
        "state": "running",
        "type": "classic",
        "messages": info.messages,
        "messages_ready": info.messages_ready,
        "messages_unacknowledged": info.messages_unacknowledged,
        "message_bytes_ready": info.message_bytes_ready,
        "consumers": info.consumers,
        "policy": None,
        "exclusive_consumer_tag": None,
    }


def _args_hash(arguments: dict[str, Any]) -> str:
    """A short stable name for a binding's arguments. RabbitMQ hashes the Erlang term with
    phash2; any stable hash serves, since clients only copy the key back into a URL."""
    canonical = json.dumps(to_json(arguments), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()[:6]
    return base64.urlsafe_b64encode(digest).decode("ascii")


def properties_key(routing_key: str, arguments: dict[str, Any]) -> str:
    """RabbitMQ's binding "properties_key": the URL name of one binding between two ends."""
    quoted = urllib.parse.quote(routing_key, safe="")
    if not arguments:
        return quoted or "~"
    return f"{quoted}~{urllib.parse.quote(_args_hash(arguments), safe='')}"


def binding_json(info: inspection.BindingInfo) -> dict[str, Any]:
    return {
        "source": info.source,
        "vhost": info.vhost,
        "destination": info.destination,
        "destination_type": info.destination_type,
        "routing_key": info.routing_key,
        "arguments": to_json(info.arguments),
        "properties_key": properties_key(info.routing_key, info.arguments),
    }


def connection_json(info: inspection.ConnectionInfo, port: int) -> dict[str, Any]:
    return {
        "name": info.name,
        "node": NODE,
        "type": "network",
        "protocol": info.protocol,
        "user": info.user,
        "vhost": info.vhost,
        "state": "blocked" if info.blocked else info.state,
        "channels": info.channels,
        "peer_host": info.peer_host,
        "peer_port": info.peer_port,
        "host": "127.0.0.1",
        "port": port,
        "ssl": False,
        "timeout": info.timeout,
        "frame_max": info.frame_max,
        "channel_max": info.channel_max,
        "client_properties": to_json(info.client_properties),
    }


def channel_json(info: inspection.ChannelInfo, connection: inspection.ConnectionInfo | None) -> Any:
    details = (
        {
            "name": connection.name,
            "peer_host": connection.peer_host,
            "peer_port": connection.peer_port,
        }
        if connection is not None
        else {}
    )
    return {
        "name": info.name,
        "node": NODE,
        "number": info.number,
        "user": info.user,
        "vhost": info.vhost,
        "state": "running",
        "connection_details": details,
        "consumer_count": info.consumer_count,
        "messages_unacknowledged": info.messages_unacknowledged,
        "messages_uncommitted": info.messages_uncommitted,
        "acks_uncommitted": info.acks_uncommitted,
        "prefetch_count": info.prefetch_count,
        "global_prefetch_count": info.global_prefetch_count,
        "confirm": info.confirm,
        "transactional": info.transactional,
    }


def consumer_json(
    info: inspection.ConsumerInfo, connection: inspection.ConnectionInfo | None
) -> dict[str, Any]:
    channel_details: dict[str, Any] = {"name": info.channel_name, "number": info.channel}
    if connection is not None:
        channel_details.update(
            connection_name=connection.name,
            peer_host=connection.peer_host,
            peer_port=connection.peer_port,
            user=connection.user,
            node=NODE,
        )
    return {
        "consumer_tag": info.consumer_tag,
        "queue": {"name": info.queue, "vhost": info.vhost},
        "channel_details": channel_details,
        "ack_required": info.ack_required,
        "exclusive": info.exclusive,
        "prefetch_count": info.prefetch_count,
        "arguments": to_json(info.arguments),
        "active": True,
        "activity_status": "up",
    }
