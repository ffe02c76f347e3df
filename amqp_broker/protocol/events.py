# What a protocol connection reports to the broker. Small frozen records, nothing else.
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from pamqp.base import Frame as Method

from amqp_broker.protocol.codec import ContentHeader


@dataclass(frozen=True, slots=True)
class ConnectionOpened:
    """The handshake finished: the client is authenticated and has opened `vhost`."""

    username: str
    vhost: str
    client_properties: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChannelOpened:
    channel: int


@dataclass(frozen=True, slots=True)
class ChannelClosed:
    """The channel's broker-side state must go now (its unacked deliveries are requeued).

    Reported when the client closes the channel and when the server decides to close it.
    """

    channel: int


@dataclass(frozen=True, slots=True)
class MethodReceived:
    channel: int
    method: Method


class ContentReceived(NamedTuple):
    """A content-bearing method with its header and whole body (basic.publish).

    A NamedTuple, not a frozen dataclass like the other events: one is built per publish, and
    it is as immutable and three times cheaper to build."""

    channel: int
    method: Method
    header: ContentHeader
    body: bytes


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """Reported once: everything the connection owned must be released.

    The socket may still have a Close to flush; `data_to_send()` holds it.
    """

    reason: str


Event = (
    ConnectionOpened
    | ChannelOpened
    | ChannelClosed
    | MethodReceived
    | ContentReceived
    | ConnectionClosed
)
