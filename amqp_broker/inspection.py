# Read-only views of a running broker's state: vhosts, exchanges, queues, bindings, connections,
# channels, consumers, and the ready messages of a queue.
#
# Rules kept here:
# - Nothing here changes broker state: a peek does not deliver, redeliver or reorder anything.
# - Every view is a frozen snapshot (fresh dicts and lists, deep-copied arguments), so a test can
#   keep it, compare it, or mutate it without touching the broker.
# - Field names follow RabbitMQ's management HTTP API (messages_ready, destination_type, ...), so
#   the management API (amqp_broker.management) serves them as they are and tests read familiar
#   names.
# - These functions read the broker's objects directly: call them on the broker's thread (trio code
#   does; a BrokerThread's call() does for sync and asyncio code).
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from pamqp.commands import Basic

from amqp_broker.broker import Broker, ClientConnection
from amqp_broker.core.channel import ChannelState, Consumer
from amqp_broker.core.message import Message
from amqp_broker.core.queue import Queue
from amqp_broker.core.vhost import QUEUE, VirtualHost
from amqp_broker.protocol.connection import ConnectionState

__all__ = [
    "BindingInfo",
    "ChannelInfo",
    "ConnectionInfo",
    "ConsumerInfo",
    "ExchangeInfo",
    "MessageInfo",
    "PublishedMessage",
    "QueueInfo",
    "VhostInfo",
    "get_queue",
    "list_bindings",
    "list_channels",
    "list_connections",
    "list_consumers",
    "list_exchanges",
    "list_queues",
    "list_vhosts",
    "message_properties",
    "peek_messages",
    "published_messages",
]


@dataclass(frozen=True, slots=True)
class VhostInfo:
    name: str
    messages: int
    messages_ready: int
    messages_unacknowledged: int


@dataclass(frozen=True, slots=True)
class ExchangeInfo:
    name: str  # "" is the default exchange
    vhost: str
    type: str
    durable: bool
    auto_delete: bool
    internal: bool
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QueueInfo:
    name: str
    vhost: str
    durable: bool
    exclusive: bool
    auto_delete: bool
    arguments: dict[str, Any]
    messages: int  # ready + unacknowledged, as RabbitMQ counts them
    messages_ready: int
    messages_unacknowledged: int
    message_bytes_ready: int
    consumers: int
    # The connection number of an exclusive queue's owner (RabbitMQ shows the owner's pid).
    owner_connection: int | None = None
    # Counts since the queue was declared: {"publish": messages routed to it, "ack": acks}.
    message_stats: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BindingInfo:
    source: str  # "" for the default exchange's implicit binding of every queue
    vhost: str
    destination: str
    destination_type: str  # "queue" or "exchange"
    routing_key: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    number: int  # this broker's id for the connection (fault injection takes it)
    name: str  # the client's "host:port", unique while the connection lives
    peer_host: str
    peer_port: int
    user: str  # "" until the handshake has authenticated someone
    vhost: str  # "" until connection.open
    state: str  # "starting", "tuning", "opening", "running", "closing" or "closed"
    channels: int
    client_properties: dict[str, Any]
    timeout: int  # negotiated heartbeat, seconds (0 = none)
    frame_max: int
    channel_max: int
    blocked: bool  # no longer read because the memory alarm is on (connection.blocked)
    protocol: str = "AMQP 0-9-1"


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    connection: int  # ConnectionInfo.number
    number: int
    name: str  # "host:port (channel)", as RabbitMQ names channels
    vhost: str
    user: str
    consumer_count: int
    messages_unacknowledged: int
    prefetch_count: int  # basic.qos global=false: given to consumers created after it
    global_prefetch_count: int  # basic.qos global=true: shared by the channel
    confirm: bool
    transactional: bool
    messages_uncommitted: int  # publishes waiting for tx.commit
    acks_uncommitted: int  # settlements waiting for tx.commit


@dataclass(frozen=True, slots=True)
class ConsumerInfo:
    consumer_tag: str
    queue: str
    vhost: str
    connection: int
    channel: int
    channel_name: str
    ack_required: bool
    exclusive: bool
    prefetch_count: int
    messages_unacknowledged: int
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """A ready message as a consumer would receive it next, seen without receiving it."""

    body: bytes
    properties: dict[str, Any]  # only the properties the publisher set, RabbitMQ's names
    headers: dict[str, Any]  # properties["headers"], or {} when there are none
    redelivered: bool
    exchange: str
    routing_key: str

    @property
    def payload_bytes(self) -> int:
        return len(self.body)


@dataclass(frozen=True, slots=True)
class PublishedMessage:
    """A message published to a watched exchange (Broker.history), with where it went."""

    body: bytes
    properties: dict[str, Any]
    headers: dict[str, Any]
    exchange: str
    routing_key: str
    routed_to: tuple[str, ...]  # the queues it reached; () when it was unroutable


_STATE_NAMES = {
    ConnectionState.AWAIT_HEADER: "starting",
    ConnectionState.AWAIT_START_OK: "starting",
    ConnectionState.AWAIT_TUNE_OK: "tuning",
    ConnectionState.AWAIT_OPEN: "opening",
    ConnectionState.OPEN: "running",
    ConnectionState.CLOSING: "closing",
    ConnectionState.CLOSED: "closed",
}

# pamqp attribute -> RabbitMQ's property name (the management API says "type", not message_type)
_PROPERTY_NAMES = {
    "content_type": "content_type",
    "content_encoding": "content_encoding",
    "headers": "headers",
    "delivery_mode": "delivery_mode",
    "priority": "priority",
    "correlation_id": "correlation_id",
    "reply_to": "reply_to",
    "expiration": "expiration",
    "message_id": "message_id",
    "timestamp": "timestamp",
    "message_type": "type",
    "user_id": "user_id",
    "app_id": "app_id",
    "cluster_id": "cluster_id",
}


def _vhosts(broker: Broker, vhost: str | None) -> list[VirtualHost]:
    if vhost is None:
        return list(broker.vhosts.values())
    found = broker.vhosts.get(vhost)
    return [found] if found is not None else []


def _unacked_in(vhost: VirtualHost) -> int:
    return sum(queue.unacked_count for queue in vhost.queues.values())


def list_vhosts(broker: Broker) -> list[VhostInfo]:
    views = []
    for vhost in broker.vhosts.values():
        ready = sum(queue.ready_count for queue in vhost.queues.values())
        unacked = _unacked_in(vhost)
        views.append(VhostInfo(vhost.name, ready + unacked, ready, unacked))
    return views


def list_exchanges(broker: Broker, vhost: str | None = None) -> list[ExchangeInfo]:
    """Every exchange (the default one included, named ""), in declaration order."""
    return [
        ExchangeInfo(
            name=exchange.name,
            vhost=host.name,
            type=exchange.type_name,
            durable=exchange.durable,
            auto_delete=exchange.auto_delete,
            internal=exchange.internal,
            arguments=copy.deepcopy(exchange.arguments),
        )
        for host in _vhosts(broker, vhost)
        for exchange in host.exchanges.values()
    ]


def _queue_info(queue: Queue) -> QueueInfo:
    owner = queue.exclusive_owner
    return QueueInfo(
        name=queue.name,
        vhost=queue.vhost,
        durable=queue.durable,
        exclusive=queue.exclusive,
        auto_delete=queue.auto_delete,
        arguments=copy.deepcopy(queue.arguments),
        messages=queue.ready_count + queue.unacked_count,
        messages_ready=queue.ready_count,
        messages_unacknowledged=queue.unacked_count,
        message_bytes_ready=queue.ready_bytes,
        consumers=len(queue.consumers),
        owner_connection=owner.number if isinstance(owner, ClientConnection) else None,
        message_stats={"publish": queue.publish_count, "ack": queue.ack_count},
    )


def list_queues(broker: Broker, vhost: str | None = None) -> list[QueueInfo]:
    return [_queue_info(queue) for host in _vhosts(broker, vhost) for queue in host.queues.values()]


def get_queue(broker: Broker, vhost: str, name: str) -> QueueInfo | None:
    """One queue's view, or None when the vhost or the queue does not exist (wait predicates
    can then ask about a queue that is yet to be declared)."""
    host = broker.vhosts.get(vhost)
    queue = host.queues.get(name) if host is not None else None
    return _queue_info(queue) if queue is not None else None


def list_bindings(broker: Broker, vhost: str | None = None) -> list[BindingInfo]:
    """The default exchange's implicit binding of each queue first (as RabbitMQ lists them),
    then every exchange's bindings in the order they were made."""
    views: list[BindingInfo] = []
    for host in _vhosts(broker, vhost):
        views.extend(BindingInfo("", host.name, name, QUEUE, name) for name in host.queues)
        for exchange in host.exchanges.values():
            if exchange.name == "":
                continue
            for binding in exchange.table.bindings():
                kind, destination = binding.destination
                views.append(
                    BindingInfo(
                        source=exchange.name,
                        vhost=host.name,
                        destination=destination,
                        destination_type=kind,
                        routing_key=binding.routing_key,
                        arguments=copy.deepcopy(binding.arguments_dict()),
                    )
                )
    return views


def _split_peer(peer: str) -> tuple[str, int]:
    host, _, port = peer.rpartition(":")
    return (host, int(port)) if port.isdigit() else (peer, 0)


def list_connections(broker: Broker) -> list[ConnectionInfo]:
    views = []
    for conn in broker.iter_connections():
        protocol = conn.protocol
        host, port = _split_peer(conn.peer)
        views.append(
            ConnectionInfo(
                number=conn.number,
                name=conn.peer,
                peer_host=host,
                peer_port=port,
                user=protocol.username,
                vhost=conn.vhost.name if conn.vhost is not None else "",
                state=_STATE_NAMES[protocol.state],
                channels=len(conn.channels),
                client_properties=copy.deepcopy(protocol.client_properties),
                timeout=protocol.heartbeat,
                frame_max=protocol.frame_max,
                channel_max=protocol.channel_max,
                blocked=conn.read_paused,
            )
        )
    return views


def _channel_name(conn: ClientConnection, channel: ChannelState) -> str:
    return f"{conn.peer} ({channel.number})"


def list_channels(broker: Broker) -> list[ChannelInfo]:
    return [
        ChannelInfo(
            connection=conn.number,
            number=channel.number,
            name=_channel_name(conn, channel),
            vhost=conn.vhost.name if conn.vhost is not None else "",
            user=conn.username,
            consumer_count=len(channel.consumers),
            messages_unacknowledged=len(channel.unacked),
            prefetch_count=channel.consumer_prefetch,
            global_prefetch_count=channel.global_prefetch,
            confirm=channel.confirm_mode,
            transactional=channel.tx_mode,
            messages_uncommitted=len(channel.tx_publishes),
            acks_uncommitted=sum(len(settled) for settled, _ in channel.tx_settlements),
        )
        for conn in broker.iter_connections()
        for channel in conn.channels.values()
    ]


def _consumer_info(conn: ClientConnection, consumer: Consumer) -> ConsumerInfo:
    return ConsumerInfo(
        consumer_tag=consumer.tag,
        queue=consumer.queue.name,
        vhost=consumer.queue.vhost,
        connection=conn.number,
        channel=consumer.channel.number,
        channel_name=_channel_name(conn, consumer.channel),
        ack_required=not consumer.no_ack,
        exclusive=consumer.exclusive,
        prefetch_count=consumer.prefetch,
        messages_unacknowledged=consumer.unacked,
        arguments=copy.deepcopy(consumer.arguments),
    )


def list_consumers(broker: Broker, vhost: str | None = None) -> list[ConsumerInfo]:
    return [
        _consumer_info(conn, consumer)
        for conn in broker.iter_connections()
        if vhost is None or (conn.vhost is not None and conn.vhost.name == vhost)
        for channel in conn.channels.values()
        for consumer in channel.consumers.values()
    ]


def message_properties(properties: Basic.Properties, properties_raw: bytes) -> dict[str, Any]:
    """The properties a publisher set, under RabbitMQ's names; unset ones are left out.

    Whether a property is set comes from the flags the publisher sent (the first two bytes of
    the raw property list): pamqp's defaults (cluster_id "") are not values anyone sent.
    """
    flags = int.from_bytes(properties_raw[:2], "big")
    found = {}
    for attribute, name in _PROPERTY_NAMES.items():
        if flags & Basic.Properties.flags[attribute]:
            found[name] = copy.deepcopy(getattr(properties, attribute))
    return found


def _message_fields(message: Message) -> dict[str, Any]:
    """The fields MessageInfo and PublishedMessage share, from the message as published."""
    properties = message_properties(message.properties, message.properties_raw)
    return {
        "body": message.body,
        "properties": properties,
        "headers": dict(properties.get("headers") or {}),
        "exchange": message.exchange,
        "routing_key": message.routing_key,
    }


def published_messages(broker: Broker, vhost: str, exchange: str) -> list[PublishedMessage]:
    """What was published to an exchange since broker.history.watch(vhost, exchange, limit),
    oldest first. Raises KeyError when that exchange is not watched."""
    return [
        PublishedMessage(**_message_fields(record.message), routed_to=record.routed_to)
        for record in broker.history.records(vhost, exchange)
    ]


def peek_messages(
    broker: Broker, vhost: str, queue: str, limit: int | None = None
) -> list[MessageInfo]:
    """The queue's ready messages in the order consumers would get them (at most `limit`),
    without delivering them. Unacked messages are not included: they are with a consumer.

    Raises KeyError naming the vhost or queue when either does not exist.
    """
    host = broker.vhosts.get(vhost)
    if host is None:
        raise KeyError(f"no vhost '{vhost}'")
    found = host.queues.get(queue)
    if found is None:
        raise KeyError(f"no queue '{queue}' in vhost '{vhost}'")
    views: list[MessageInfo] = []
    for entry in found.ready_messages():
        if limit is not None and len(views) >= limit:
            break
        views.append(MessageInfo(**_message_fields(entry.message), redelivered=entry.redelivered))
    return views
