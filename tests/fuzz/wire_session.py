# One fuzzing session over a real socket: the bytes to send, and what the broker answered.
#
# A session pipelines its whole input (handshake included) without waiting, half-closes the
# socket, and reads until the broker hangs up. Half-closing guarantees the session ends whatever
# state the input left the connection in, so "the broker closed cleanly" is always observable.
from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field
from typing import Any

from pamqp import commands, frame
from pamqp.base import Frame as Method

from amqp_broker.protocol.codec import encode_method

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
FRAME_END = 0xCE
_HEADER = struct.Struct(">BHI")

# The spec's reply codes: soft ones close a channel, hard ones the connection.
SOFT_CODES = frozenset({311, 312, 313, 403, 404, 405, 406})
HARD_CODES = frozenset({320, 402, 501, 502, 503, 504, 505, 506, 530, 540})  # never 541


def raw_frame(frame_type: int, channel: int, payload: bytes, end: int = FRAME_END) -> bytes:
    return _HEADER.pack(frame_type, channel, len(payload)) + payload + bytes((end,))


def method(channel: int, value: Method) -> bytes:
    """Encoded without pamqp's validate(), whose name rules are stricter than RabbitMQ's."""
    return encode_method(channel, value)


def build(cls: type[Method], **fields: object) -> Method:
    """A method with any field values: pamqp validates in __init__, so set them afterwards."""
    value = cls()
    for name, field_value in fields.items():
        setattr(value, name, field_value)
    return value


def handshake(vhost: str, channels: int, user: str = "guest", password: str = "guest") -> bytes:
    """Everything a client sends to log in and open channels 1..channels, in one piece."""
    return b"".join(
        [
            PROTOCOL_HEADER,
            method(
                0,
                commands.Connection.StartOk(
                    client_properties={"capabilities": {"authentication_failure_close": True}},
                    mechanism="PLAIN",
                    response=f"\0{user}\0{password}",
                ),
            ),
            method(0, commands.Connection.TuneOk(channel_max=2047, frame_max=131072)),
            method(0, commands.Connection.Open(virtual_host=vhost)),
            *(method(number, commands.Channel.Open()) for number in range(1, channels + 1)),
        ]
    )


CLIENT_CLOSE = method(0, commands.Connection.Close(200, "fuzz session done", 0, 0))


@dataclass
class Outcome:
    """What the broker sent back, decoded, and how the session ended."""

    replies: list[tuple[int, Any]] = field(default_factory=list)
    header_echoed: bool = False  # the broker answered a bad protocol header with its own
    leftover: bytes = b""  # bytes after the last whole frame: must be empty

    @property
    def connection_close(self) -> commands.Connection.Close | None:
        for _, value in self.replies:
            if isinstance(value, commands.Connection.Close):
                return value
        return None

    @property
    def channel_closes(self) -> list[commands.Channel.Close]:
        return [value for _, value in self.replies if isinstance(value, commands.Channel.Close)]

    def describe(self) -> list[tuple[int, str, object]]:
        """What the broker said, readable in an assertion message."""
        return [
            (
                channel,
                getattr(value, "name", type(value).__name__),
                getattr(value, "reply_text", ""),
            )
            for channel, value in self.replies
            if getattr(value, "name", "")
            not in ("Connection.Start", "Connection.Tune", "Channel.OpenOk")
        ]

    @property
    def close_ok(self) -> bool:
        return any(isinstance(value, commands.Connection.CloseOk) for _, value in self.replies)


def run_session(port: int, data: bytes, timeout: float = 10.0) -> Outcome:
    """Send `data`, half-close, and decode everything until the broker closes the socket.

    Raises socket.timeout if the broker neither answers nor closes within `timeout` (a hang).
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the broker may close before reading everything: that is an answer too
        received = bytearray()
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    return decode_output(bytes(received))


def decode_output(data: bytes) -> Outcome:
    """Every frame the broker sent; raises if any is malformed (a broker bug)."""
    outcome = Outcome()
    if data.startswith(PROTOCOL_HEADER):
        outcome.header_echoed = True
        data = data[len(PROTOCOL_HEADER) :]
    pos = 0
    while len(data) - pos >= 8:
        _, _, size = _HEADER.unpack_from(data, pos)
        if len(data) - pos < size + 8:
            break
        consumed, channel, value = frame.unmarshal(data[pos : pos + size + 8])
        assert consumed == size + 8
        outcome.replies.append((channel, value))
        pos += consumed
    outcome.leftover = data[pos:]
    return outcome
