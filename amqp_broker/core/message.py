# The message record, shared by every queue a publish reaches.
#
# The publisher's content-header property bytes are kept as they arrived and forwarded to consumers
# unchanged; decoded properties are used only where a decision needs them.
from __future__ import annotations

from pamqp.commands import Basic


class Message:
    __slots__ = (
        "body",
        "exchange",
        "priority",
        "properties",
        "properties_raw",
        "routing_key",
        "sender_routes",
        "ttl",
    )

    def __init__(
        self,
        exchange: str,
        routing_key: str,
        properties_raw: bytes,
        properties: Basic.Properties,
        body: bytes,
        *,
        ttl: int | None = None,
        sender_routes: tuple[str, ...] = (),
    ) -> None:
        self.exchange = exchange
        self.routing_key = routing_key
        self.properties_raw = properties_raw
        self.properties = properties
        self.body = body
        self.priority = properties.priority or 0
        self.ttl = ttl  # per-message TTL in ms, from the `expiration` property
        # Routing keys from the CC and BCC headers (RabbitMQ's sender-selected distribution),
        # routed to besides routing_key. BCC is gone from the headers by then.
        self.sender_routes = sender_routes

    @property
    def persistent(self) -> bool:
        return self.properties.delivery_mode == 2


class QueuedMessage:
    """One message's place in one queue: its publication order and whether it was delivered."""

    __slots__ = ("expires_at", "message", "redelivered", "seq", "stored")

    def __init__(self, message: Message, seq: int) -> None:
        self.message = message
        self.seq = seq
        self.redelivered = False
        self.expires_at: float | None = None  # on the broker's clock; set by the queue
        self.stored = -1  # the durable store's locator for this copy; -1 when not on disk

    def __lt__(self, other: QueuedMessage) -> bool:
        return self.seq < other.seq
