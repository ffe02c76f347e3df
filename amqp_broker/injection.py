# Publishing from a test into a running broker, as a client's basic.publish would.
#
# Rules kept here:
# - The message takes the path a client's publish takes: its properties are encoded to the wire
#   form and decoded back (so consumers receive exactly what a client publish would give them),
#   it is routed from its exchange, and consumers with room get it at once.
# - The checks a client's publish meets are made here with the same reply codes (404 unknown
#   exchange, 403 internal exchange, 406 bad delivery_mode), raised as AMQPError.
# - Call on the broker's thread, through BrokerServer.apply() so writers wake up.
from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from pamqp.commands import Basic

from amqp_broker.broker import Broker
from amqp_broker.core.expiry import parse_expiration
from amqp_broker.core.message import Message
from amqp_broker.core.vhost import VirtualHost
from amqp_broker.errors import AMQPError, ReplyCode
from amqp_broker.protocol.codec import decode_content_header, encode_properties
from amqp_broker.protocol.fieldscan import TRUSTED_LIMITS

# RabbitMQ's property names (as amqp_broker.inspection shows them) -> pamqp's
_PAMQP_NAMES = {"type": "message_type"}
_CONTENT_HEADER = struct.Struct(">HHQ")


def make_message(
    exchange: str, routing_key: str, body: bytes, properties: Mapping[str, Any] | None = None
) -> Message:
    """A message as the broker would hold it after a client published it.

    `properties` uses RabbitMQ's names (content_type, headers, delivery_mode, type, ...).
    Raises TypeError for an unknown property name.
    """
    fields = {_PAMQP_NAMES.get(name, name): value for name, value in (properties or {}).items()}
    raw = encode_properties(Basic.Properties(**fields))
    header = decode_content_header(_CONTENT_HEADER.pack(60, 0, len(body)) + raw, TRUSTED_LIMITS)
    ttl = parse_expiration(header.properties.expiration)
    return Message(exchange, routing_key, header.properties_raw, header.properties, body, ttl=ttl)


def _vhost(broker: Broker, name: str) -> VirtualHost:
    vhost = broker.vhosts.get(name)
    if vhost is None:
        raise AMQPError(ReplyCode.NOT_ALLOWED, f"vhost {name} not found")
    return vhost


def publish(
    broker: Broker,
    vhost: str,
    exchange: str,
    routing_key: str,
    body: bytes,
    *,
    properties: Mapping[str, Any] | None = None,
) -> list[str]:
    """Publish into an exchange ("" is the default exchange); returns the names of the queues
    the message reached ([] when it was unroutable and dropped)."""
    host = _vhost(broker, vhost)
    broker.publish_target(host, exchange)
    message = make_message(exchange, routing_key, body, properties)
    broker.check_delivery_mode(message.properties)
    queues, _refused = broker.route_message(host, message)
    broker.check_memory()
    return [queue.name for queue in queues]


def publish_to_queue(
    broker: Broker,
    vhost: str,
    queue: str,
    body: bytes,
    *,
    properties: Mapping[str, Any] | None = None,
) -> None:
    """Put a message straight into a queue (through the default exchange, as RabbitMQ does).
    Unlike a client's publish to a missing queue, this fails: 404 naming the queue."""
    _vhost(broker, vhost).queue_or_404(queue)
    publish(broker, vhost, "", queue, body, properties=properties)
