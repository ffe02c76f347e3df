# A scripted AMQP client for driving AMQPConnection in tests: builds client frames with pamqp,
# decodes what the server sent, and performs the handshake so a test can start from an open
# connection. No sockets and no clock: every call passes `now` explicitly.
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from pamqp import body, commands, frame, header
from pamqp.base import Frame as Method
from pamqp.heartbeat import Heartbeat

from amqp_broker.errors import AMQPError, ReplyCode
from amqp_broker.protocol.connection import AMQPConnection, ConnectionSettings
from amqp_broker.protocol.events import ConnectionClosed, Event
from amqp_broker.protocol.framing import PROTOCOL_HEADER

PLAIN_GUEST = "\x00guest\x00guest"
CLIENT_CAPABILITIES = {"authentication_failure_close": True, "publisher_confirms": True}


class FakeAuthenticator:
    """The Authenticator interface with one user (guest/guest, loopback only) and vhost "/"."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bool]] = []

    def authenticate(self, username: str, password: str, peer_is_loopback: bool) -> bool:
        self.calls.append((username, password, peer_is_loopback))
        return username == "guest" and password == "guest" and peer_is_loopback

    def authenticate_external(self, username: str, peer_is_loopback: bool) -> bool:
        return username == "guest"

    def secret_update_allowed(self, username: str, secret: str) -> bool:
        return username == "guest"

    def check_vhost_access(self, username: str, vhost: str) -> None:
        if vhost != "/":
            raise AMQPError(ReplyCode.NOT_ALLOWED, f"vhost {vhost} not found")


def marshal(method: Method, channel: int = 0) -> bytes:
    return frame.marshal(method, channel)


def raw_frame(frame_type: int, channel: int, payload: bytes, end: int = 0xCE) -> bytes:
    return struct.pack(">BHI", frame_type, channel, len(payload)) + payload + bytes((end,))


def method_frame(channel: int, payload: bytes) -> bytes:
    return raw_frame(1, channel, payload)


def queue_declare_payload(arguments_table: bytes) -> bytes:
    """queue.declare of "q": ticket, queue name, bits (passive..nowait), the arguments table."""
    return (
        b"\x00\x32\x00\x0a"
        + b"\x00\x00"
        + b"\x01q"
        + b"\x00"
        + struct.pack(">I", len(arguments_table))
        + arguments_table
    )


def nested_table(depth: int) -> bytes:
    """The contents of a table nested `depth` levels deep, the outer one included:
    {"a": {"a": ... {}}} with depth - 1 inner tables."""
    inner = b""
    for _ in range(depth - 1):
        inner = b"\x01aF" + struct.pack(">I", len(inner)) + inner
    return inner


def content_header(channel: int, body_size: int, class_id: int = 60) -> bytes:
    content = header.ContentHeader(0, body_size, commands.Basic.Properties(content_type="text/x"))
    data = frame.marshal(content, channel)
    if class_id != 60:
        data = data[:7] + struct.pack(">H", class_id) + data[9:]
    return data


def content_body(channel: int, data: bytes) -> bytes:
    return frame.marshal(body.ContentBody(data), channel)


def publish(channel: int, data: bytes, routing_key: str = "q") -> bytes:
    return (
        marshal(commands.Basic.Publish(exchange="", routing_key=routing_key), channel)
        + content_header(channel, len(data))
        + content_body(channel, data)
    )


def start_ok(
    mechanism: str = "PLAIN",
    response: str = PLAIN_GUEST,
    capabilities: dict[str, Any] | None = None,
) -> bytes:
    props = {
        "product": "test",
        "capabilities": CLIENT_CAPABILITIES if capabilities is None else capabilities,
    }
    return marshal(
        commands.Connection.StartOk(
            client_properties=props, mechanism=mechanism, response=response, locale="en_US"
        )
    )


def tune_ok(channel_max: int = 2047, frame_max: int = 131072, heartbeat: int = 0) -> bytes:
    return marshal(
        commands.Connection.TuneOk(
            channel_max=channel_max, frame_max=frame_max, heartbeat=heartbeat
        )
    )


def connection_open(vhost: str = "/") -> bytes:
    return marshal(commands.Connection.Open(virtual_host=vhost))


@dataclass(frozen=True, slots=True)
class Sent:
    """One frame the server sent, decoded with pamqp."""

    channel: int
    value: Any  # a pamqp Method, ContentHeader, ContentBody or Heartbeat


def decode_output(data: bytes) -> list[Sent]:
    """Every frame in `data`; a leading protocol header is skipped."""
    out: list[Sent] = []
    if data.startswith(b"AMQP"):
        data = data[8:]
    while data:
        consumed, channel, value = frame.unmarshal(data)
        out.append(Sent(channel, value))
        data = data[consumed:]
    return out


def drain(conn: AMQPConnection) -> list[Event]:
    events: list[Event] = []
    while (event := conn.next_event()) is not None:
        events.append(event)
    return events


def feed(conn: AMQPConnection, data: bytes, now: float = 0.0) -> list[Event]:
    conn.receive_data(data, now)
    return drain(conn)


def feed_bytewise(conn: AMQPConnection, data: bytes, now: float = 0.0) -> list[Event]:
    events: list[Event] = []
    for index in range(len(data)):
        events += feed(conn, data[index : index + 1], now)
    return events


def sent(conn: AMQPConnection) -> list[Sent]:
    return decode_output(conn.data_to_send())


def methods(conn: AMQPConnection) -> list[Sent]:
    return [item for item in sent(conn) if isinstance(item.value, Method)]


def closed_events(events: list[Event]) -> list[ConnectionClosed]:
    return [event for event in events if isinstance(event, ConnectionClosed)]


def open_connection(
    *,
    heartbeat: int = 0,
    frame_max: int = 131072,
    settings: ConnectionSettings | None = None,
    now: float = 0.0,
) -> AMQPConnection:
    """A connection past the handshake, with its output flushed and its events drained."""
    conn = AMQPConnection(FakeAuthenticator(), settings, now=now)
    feed(conn, PROTOCOL_HEADER, now)
    feed(conn, start_ok(), now)
    feed(conn, tune_ok(frame_max=frame_max, heartbeat=heartbeat), now)
    events = feed(conn, connection_open(), now)
    assert conn.is_open, events
    conn.data_to_send()
    return conn


def open_channel(conn: AMQPConnection, channel: int = 1, now: float = 0.0) -> None:
    feed(conn, marshal(commands.Channel.Open(), channel), now)
    replies = methods(conn)
    assert [type(item.value) for item in replies] == [commands.Channel.OpenOk], replies


def connection_close(sent_frames: list[Sent]) -> commands.Connection.Close | None:
    for item in sent_frames:
        if isinstance(item.value, commands.Connection.Close):
            return item.value
    return None


def channel_close(sent_frames: list[Sent]) -> tuple[int, commands.Channel.Close] | None:
    for item in sent_frames:
        if isinstance(item.value, commands.Channel.Close):
            return item.channel, item.value
    return None


def is_heartbeat(item: Sent) -> bool:
    return isinstance(item.value, Heartbeat)
