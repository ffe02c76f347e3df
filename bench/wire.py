# The load generator's AMQP 0-9-1 wire layer: a blocking client good enough for set-up (handshake,
# declares, binds, consume) and the two hot loops' encodings.
#
# Rules kept here:
# - Set-up may be slow and uses pamqp; the hot path never does. Publishes are pre-encoded frame
#   templates with only the 8-byte sequence number and timestamp filled in per message, and
#   deliveries are read by looking at frame headers and the first 16 bytes of each body.
# - Every message body starts with its sequence number (8 bytes) and the publisher's
#   time.monotonic_ns() (8 bytes, 0 unless latency is measured), so the consumer can check
#   exactly-once and order without the publisher telling it anything else.
# - Talks to any AMQP 0-9-1 broker (ours or RabbitMQ) the same way.
from __future__ import annotations

import socket
import struct
from typing import Any

from pamqp import commands, frame
from pamqp.base import Frame as Method

FRAME_METHOD = 1
FRAME_HEADER = 2
FRAME_BODY = 3
FRAME_END = b"\xce"
FRAME_MAX = 131072

_FRAME_HEADER = struct.Struct(">BHI")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_TWO_U64 = struct.Struct(">QQ")

# class << 16 | method, as they appear in a method frame's first four bytes
BASIC_DELIVER = 0x003C003C
BASIC_ACK = 0x003C0050
BASIC_NACK = 0x003C0078
BASIC_CANCEL = 0x003C001E
CHANNEL_CLOSE = 0x00140028
CONNECTION_CLOSE = 0x000A0032

# Basic property flags (AMQP 0-9-1, section 4.2.6.1 order, highest bit first)
FLAG_DELIVERY_MODE = 0x1000
FLAG_PRIORITY = 0x0800

BODY_PREFIX = 16  # sequence number + timestamp
MIN_BODY = BODY_PREFIX


class BrokerRefusedError(Exception):
    """The broker closed the channel or connection during set-up or a run."""


def encode_frame(frame_type: int, channel: int, payload: bytes) -> bytes:
    return _FRAME_HEADER.pack(frame_type, channel, len(payload)) + payload + FRAME_END


def _shortstr(value: str) -> bytes:
    raw = value.encode()
    return bytes((len(raw),)) + raw


def encode_properties(*, delivery_mode: int = 0, priority: int | None = None) -> bytes:
    """Property flags and list for the two properties the scenarios use."""
    flags = 0
    values = b""
    if delivery_mode:
        flags |= FLAG_DELIVERY_MODE
        values += bytes((delivery_mode,))
    if priority is not None:
        flags |= FLAG_PRIORITY
        values += bytes((priority,))
    return _U16.pack(flags) + values


def publish_prefix(
    channel: int, exchange: str, routing_key: str, properties: bytes, body_size: int
) -> bytes:
    """basic.publish, content header and the body frame's 7-byte header: everything of one
    publish that comes before its body."""
    method = struct.pack(">HHH", 60, 40, 0) + _shortstr(exchange) + _shortstr(routing_key) + b"\0"
    header = struct.pack(">HHQ", 60, 0, body_size) + properties
    return (
        encode_frame(FRAME_METHOD, channel, method)
        + encode_frame(FRAME_HEADER, channel, header)
        + _FRAME_HEADER.pack(FRAME_BODY, channel, body_size)
    )


def deliver_prefix(channel: int, consumer_tag: str, tag: int, body_size: int) -> bytes:
    """What a broker sends before a delivery's body (used by the consumer-ceiling source)."""
    method = (
        struct.pack(">HH", 60, 60)
        + _shortstr(consumer_tag)
        + _U64.pack(tag)
        + b"\0"
        + _shortstr("")
        + _shortstr("q")
    )
    header = struct.pack(">HHQ", 60, 0, body_size) + b"\0\0"
    return (
        encode_frame(FRAME_METHOD, channel, method)
        + encode_frame(FRAME_HEADER, channel, header)
        + _FRAME_HEADER.pack(FRAME_BODY, channel, body_size)
    )


def ack_frame(channel: int, tag: int) -> bytes:
    """basic.ack with multiple=true."""
    return encode_frame(FRAME_METHOD, channel, struct.pack(">HHQB", 60, 80, tag, 1))


class PublishTemplate:
    """Pre-encoded publishes: per message only the sequence number (and a timestamp) vary.

    Messages cycle through `prefixes` by sequence number, so a scenario can spread routing keys
    or priorities over messages without encoding anything per message.
    """

    def __init__(self, prefixes: list[bytes], body_size: int) -> None:
        if body_size < MIN_BODY:
            raise ValueError(f"bodies carry a {MIN_BODY}-byte prefix; {body_size} is too small")
        self.prefixes = prefixes
        self.body_size = body_size
        self.suffix = b"\0" * (body_size - BODY_PREFIX) + FRAME_END

    def batch(self, start: int, stop: int, stamp: int = 0) -> bytes:
        prefixes = self.prefixes
        count = len(prefixes)
        suffix = self.suffix
        pack = _TWO_U64.pack
        parts: list[bytes] = []
        append = parts.append
        for seq in range(start, stop):
            append(prefixes[seq % count])
            append(pack(seq, stamp))
            append(suffix)
        return b"".join(parts)


class WireConnection:
    """A blocking AMQP connection for set-up; `sock` and `pending` are handed to a hot loop."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        vhost: str = "/",
        user: str = "guest",
        password: str = "guest",
        timeout: float = 30.0,
    ) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pending = bytearray()
        self.sock.sendall(b"AMQP\x00\x00\x09\x01")
        self._expect(0, commands.Connection.Start)
        self.send(
            0,
            commands.Connection.StartOk(
                client_properties={
                    "product": "bench",
                    "capabilities": {"consumer_cancel_notify": True},
                },
                mechanism="PLAIN",
                response=f"\0{user}\0{password}",
                locale="en_US",
            ),
        )
        tune = self._expect(0, commands.Connection.Tune)
        self.send(
            0,
            commands.Connection.TuneOk(
                channel_max=tune.channel_max, frame_max=min(tune.frame_max, FRAME_MAX), heartbeat=0
            ),
        )
        self.send(0, commands.Connection.Open(virtual_host=vhost))
        self._expect(0, commands.Connection.OpenOk)

    def send(self, channel: int, method: Method) -> None:
        self.sock.sendall(frame.marshal(method, channel))

    def rpc(self, channel: int, method: Method, reply: type[Any]) -> Any:
        self.send(channel, method)
        return self._expect(channel, reply)

    def open_channel(self, channel: int) -> None:
        self.rpc(channel, commands.Channel.Open(), commands.Channel.OpenOk)

    def read_frame(self) -> tuple[int, Any]:
        while True:
            if len(self.pending) >= 7:
                size = _U32.unpack_from(self.pending, 3)[0]
                if len(self.pending) >= size + 8:
                    used, channel, value = frame.unmarshal(bytes(self.pending[: size + 8]))
                    del self.pending[:used]
                    return channel, value
            data = self.sock.recv(65536)
            if not data:
                raise BrokerRefusedError("the broker closed the connection")
            self.pending += data

    def _expect(self, channel: int, reply: type[Any]) -> Any:
        while True:
            got_channel, value = self.read_frame()
            if isinstance(value, commands.Channel.Close | commands.Connection.Close):
                raise BrokerRefusedError(f"{value.reply_code} {value.reply_text}")
            if got_channel == channel and isinstance(value, reply):
                return value

    def close(self) -> None:
        """Close and wait for Close-Ok: a broker still reading a backlog of publishes gets to
        the end of it first. Closing the socket early could reset the connection and lose the
        publishes still in the broker's receive buffer (RabbitMQ under load did)."""
        try:
            self.sock.settimeout(30.0)
            self.rpc(
                0,
                commands.Connection.Close(reply_code=200, reply_text="", class_id=0, method_id=0),
                commands.Connection.CloseOk,
            )
        except (OSError, BrokerRefusedError):
            pass
        finally:
            self.sock.close()


class DeliveryScanner:
    """Reads deliveries from a byte stream with as little parsing as it can.

    Per channel it keeps the sequence numbers received (in arrival order) and the last delivery
    tag; with `stamps` it also keeps each message's latency in ns (receive time minus the
    publisher's stamp). Any method other than basic.deliver (or a confirm's ack/nack, counted
    separately) is a failure: the broker closed or cancelled something.
    """

    def __init__(self, channels: list[int], stamps: bool = False) -> None:
        self.buffer = bytearray()
        self.seqs: dict[int, list[int]] = {channel: [] for channel in channels}
        self.last_tag: dict[int, int] = dict.fromkeys(channels, 0)
        self.received = 0
        self.latencies: list[int] = []
        self.stamps = stamps
        self.problem = ""

    def feed(self, data: bytes, now_ns: int = 0) -> None:
        buffer = self.buffer
        buffer += data
        pos = 0
        end_of_data = len(buffer)
        unpack_header = _FRAME_HEADER.unpack_from
        unpack_u32 = _U32.unpack_from
        unpack_body = _TWO_U64.unpack_from
        seqs = self.seqs
        received = 0
        while end_of_data - pos >= 8:
            frame_type, channel, size = unpack_header(buffer, pos)
            end = pos + 7 + size
            if end >= end_of_data:
                break
            if frame_type == FRAME_BODY:
                seq, stamp = unpack_body(buffer, pos + 7)
                seqs[channel].append(seq)
                received += 1
                if self.stamps:
                    self.latencies.append(now_ns - stamp)
            elif frame_type == FRAME_METHOD:
                index = unpack_u32(buffer, pos + 7)[0]
                if index == BASIC_DELIVER:
                    tag_at = pos + 12 + buffer[pos + 11]
                    self.last_tag[channel] = _U64.unpack_from(buffer, tag_at)[0]
                else:
                    self.problem = self.problem or _describe(index, bytes(buffer[pos + 7 : end]))
            pos = end + 1
        del buffer[:pos]
        self.received += received


def _describe(index: int, payload: bytes) -> str:
    try:
        method = frame.unmarshal(encode_frame(FRAME_METHOD, 0, payload))[2]
    except Exception as exc:  # a report for a human: never let it hide the real problem
        return f"method {index:#010x} ({exc})"
    return repr(method)


class ConfirmTracker:
    """Publisher-confirm bookkeeping: acks and nacks, single or multiple, in any mix."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.confirmed_upto = 0
        self.singles: set[int] = set()
        self.nacked = 0
        self.problem = ""

    @property
    def confirmed(self) -> int:
        return self.confirmed_upto + len(self.singles)

    def feed(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        pos = 0
        while len(buffer) - pos >= 8:
            frame_type, _channel, size = _FRAME_HEADER.unpack_from(buffer, pos)
            end = pos + 7 + size
            if end >= len(buffer):
                break
            if frame_type == FRAME_METHOD:
                index = _U32.unpack_from(buffer, pos + 7)[0]
                if index in (BASIC_ACK, BASIC_NACK):
                    tag = _U64.unpack_from(buffer, pos + 11)[0]
                    multiple = bool(buffer[pos + 19] & 1)
                    if index == BASIC_NACK:
                        self.nacked += 1
                    self._settle(tag, multiple)
                else:
                    self.problem = self.problem or _describe(index, bytes(buffer[pos + 7 : end]))
            pos = end + 1
        del buffer[:pos]

    def _settle(self, tag: int, multiple: bool) -> None:
        if multiple:
            if tag > self.confirmed_upto:
                self.singles = {t for t in self.singles if t > tag}
                self.confirmed_upto = tag
        elif tag > self.confirmed_upto:
            self.singles.add(tag)
        while self.confirmed_upto + 1 in self.singles:
            self.confirmed_upto += 1
            self.singles.discard(self.confirmed_upto)
