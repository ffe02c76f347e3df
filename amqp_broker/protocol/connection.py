# The server side of one AMQP 0-9-1 connection, sans-IO.
#
# Rules kept here:
# 1. Bytes go in with receive_data(); events come out of next_event(), parsed lazily, one frame at
#    a time, so an event the broker has not seen yet can still be dropped when an earlier event
#    closed its channel. Bytes to send pile up in an outbound buffer read by data_to_send().
# 2. Handshake (start, tune, open), channel open/close, flow and heartbeats are handled here; every
#    other method reaches the broker as an event.
# 3. fail() is the one place an AMQPError becomes Channel.Close or Connection.Close. Before the
#    connection is open, errors end it with no Close frame (RabbitMQ's behaviour), except a refused
#    login when the client advertises authentication_failure_close.
# 4. After we send Channel.Close, only Close-Ok (or Close) is read on that channel; after we send
#    Connection.Close, only Close-Ok or Close is read at all.
from __future__ import annotations

import enum
import platform
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from pamqp import commands
from pamqp.base import Frame as Method

from amqp_broker.errors import AMQPError, ReplyCode, SilentClose
from amqp_broker.protocol.assembler import AssemblyState, CommandAssembler, Content
from amqp_broker.protocol.codec import (
    ACCESS_REQUEST_INDEX,
    ACCESS_REQUEST_OK_PAYLOAD,
    FRAME_BODY,
    FRAME_HEADER,
    FRAME_HEARTBEAT,
    FRAME_METHOD,
    HEARTBEAT_FRAME,
    content_header,
    decode_method,
    encode_content,
    encode_method,
    frame,
)
from amqp_broker.protocol.events import (
    ChannelClosed,
    ChannelOpened,
    ConnectionClosed,
    ConnectionOpened,
    ContentReceived,
    Event,
    MethodReceived,
)
from amqp_broker.protocol.fastcodec import scan_publish
from amqp_broker.protocol.fieldscan import DEFAULT_LIMITS, TableLimits, scan_table
from amqp_broker.protocol.fieldtable import decode_table
from amqp_broker.protocol.framing import FRAME_MIN_SIZE, PROTOCOL_HEADER, FrameReader
from amqp_broker.version import RABBITMQ_VERSION

CHANNEL_MIN = 1
_new_tuple = tuple.__new__


class Authenticator(Protocol):
    """What the connection asks of the user store during the handshake."""

    def authenticate(self, username: str, password: str, peer_is_loopback: bool) -> bool: ...

    def authenticate_external(self, username: str, peer_is_loopback: bool) -> bool:
        """EXTERNAL: the TLS layer vouched for `username` (a verified certificate's CN)."""
        ...

    def check_vhost_access(self, username: str, vhost: str) -> None:
        """Raise AMQPError (530 NOT_ALLOWED) if `username` may not open `vhost` now: it does
        not exist, the user has no permissions there, or a connection limit is reached."""
        ...

    def secret_update_allowed(self, username: str, secret: str) -> bool:
        """connection.update-secret: whether the store takes `secret` as the user's new one."""
        ...


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    channel_max: int = 2047
    frame_max: int = 131072
    heartbeat: int = 60
    product: str = "RabbitMQ"
    version: str = RABBITMQ_VERSION
    # Names this broker, whatever `product` says.
    information: str = "trio-amqp-broker, an AMQP 0-9-1 broker on trio."
    cluster_name: str = "trio-amqp-broker@localhost"
    # Largest message body accepted, checked against the content header's declared size before
    # any body is buffered (RabbitMQ's max_message_size and its default, 128 MiB).
    max_message_size: int = 128 * 1024 * 1024
    # Nesting depth and decoding cost of the field tables in one frame (fieldscan).
    table_limits: TableLimits = DEFAULT_LIMITS


class ConnectionState(enum.Enum):
    AWAIT_HEADER = "await_header"
    AWAIT_START_OK = "await_start_ok"
    AWAIT_TUNE_OK = "await_tune_ok"
    AWAIT_OPEN = "await_open"
    OPEN = "open"
    CLOSING = "closing"  # we sent Connection.Close
    CLOSED = "closed"


class ChannelState(enum.Enum):
    OPEN = "open"
    CLOSING = "closing"  # we sent Channel.Close


@dataclass(slots=True)
class _Channel:
    state: ChannelState = ChannelState.OPEN
    assembler: CommandAssembler = field(default_factory=CommandAssembler)


CAPABILITIES = {
    "publisher_confirms": True,
    "exchange_exchange_bindings": True,
    "basic.nack": True,
    "consumer_cancel_notify": True,
    "connection.blocked": True,
    "consumer_priorities": True,
    "authentication_failure_close": True,
    "per_consumer_qos": True,
    "direct_reply_to": True,
}


def server_properties(settings: ConnectionSettings) -> dict[str, Any]:
    return {
        "capabilities": dict(CAPABILITIES),
        "cluster_name": settings.cluster_name,
        "copyright": "Copyright (c) the trio-amqp-broker authors",
        "information": settings.information,
        "platform": f"Python {platform.python_version()}",
        "product": settings.product,
        "version": settings.version,
    }


def parse_credentials(
    mechanism: str, response: str | bytes, limits: TableLimits = DEFAULT_LIMITS
) -> tuple[str, str]:
    """(username, password) from a PLAIN or AMQPLAIN response; raises SilentClose otherwise.

    An AMQPLAIN response is a field table from a client not yet logged in: it is scanned under
    `limits` like every other table before it is decoded."""
    raw = response.encode("utf-8") if isinstance(response, str) else bytes(response)
    if mechanism == "PLAIN":
        parts = raw.split(b"\x00")
        if len(parts) != 3:
            raise SilentClose("malformed PLAIN response")
        return parts[1].decode("utf-8", "replace"), parts[2].decode("utf-8", "replace")
    if mechanism == "AMQPLAIN":
        prefixed = len(raw).to_bytes(4, "big") + raw
        try:
            scan_table(prefixed, 0, len(prefixed), limits=limits)
        except AMQPError as exc:
            raise SilentClose("malformed AMQPLAIN response") from exc
        table, _ = decode_table(prefixed, 0)
        login, password = table.get("LOGIN"), table.get("PASSWORD")
        if not isinstance(login, str) or not isinstance(password, str):
            raise SilentClose("AMQPLAIN response without LOGIN and PASSWORD")
        return login, password
    raise SilentClose(f"unsupported authentication mechanism {mechanism!r}")


class AMQPConnection:
    """One client connection's protocol state.

    next_event() raising anything is a bug: protocol errors become Close frames (or a silent
    close) and a ConnectionClosed event.
    """

    def __init__(
        self,
        authenticator: Authenticator,
        settings: ConnectionSettings | None = None,
        *,
        peer_is_loopback: bool = True,
        now: float = 0.0,
    ) -> None:
        self.settings = settings or ConnectionSettings()
        self._auth = authenticator
        self._peer_is_loopback = peer_is_loopback
        # Set by the transport before any byte is fed: the user name a verified TLS client
        # certificate names. When set, EXTERNAL is offered (RabbitMQ's rabbitmq_auth_mechanism_ssl).
        self.peer_identity: str | None = None
        self.state = ConnectionState.AWAIT_HEADER
        self._reader = FrameReader(FRAME_MIN_SIZE)
        self._events: deque[Event] = deque()
        self._out: list[bytes] = []
        self._out_size = 0
        self._channels: dict[int, _Channel] = {}
        self._eof = False
        self.username = ""
        self.vhost = ""
        self.client_properties: dict[str, Any] = {}
        self.channel_max = self.settings.channel_max
        self.frame_max = FRAME_MIN_SIZE
        self.heartbeat = 0
        self._now = now
        self.opened_at = now
        self._last_received = now
        self._last_sent = now
        self.close_reason = ""
        # The client's Connection.Close was answered: the client may still have frames in flight
        # behind it (amqplib interleaves channels), so the socket stays readable until it hangs up.
        self.closed_by_client = False

    # ---- input -------------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float | None = None) -> None:
        """Buffer bytes from the peer; b"" means the peer closed its side."""
        if now is not None:
            self._now = now
        self._last_received = self._now
        if not data:
            self._eof = True
            return
        if self.state is not ConnectionState.CLOSED:
            self._reader.feed(data)

    def next_event(self) -> Event | None:
        while not self._events:
            if self.state is ConnectionState.CLOSED:
                return None
            try:
                progressed = self._step()
            except SilentClose as exc:
                self._terminate(str(exc))
            except AMQPError as exc:
                self.fail(0, exc)
            else:
                if not progressed:
                    if self._eof:
                        self._terminate("client closed the TCP connection")
                        continue
                    return None
        return self._events.popleft()

    def _step(self) -> bool:
        if self.state is ConnectionState.OPEN and self._publish_in_one_go():
            return True
        if self.state is ConnectionState.AWAIT_HEADER:
            return self._read_protocol_header()
        try:
            raw = self._reader.next_frame()
        except AMQPError as exc:
            # The stream is out of step and the bad frame stays buffered: send the Close, then stop
            # reading (retrying would raise again forever, even in CLOSING).
            self.fail(0, exc)
            if self.state is not ConnectionState.CLOSED:
                self._terminate(exc.text)
            return True
        if raw is None:
            return False
        frame_type, channel, payload = raw
        if frame_type == FRAME_HEARTBEAT:
            return True
        if channel and self.state is ConnectionState.OPEN:  # nearly every frame
            self._channel_frame(channel, frame_type, payload)
            return True
        if self.state in (
            ConnectionState.AWAIT_START_OK,
            ConnectionState.AWAIT_TUNE_OK,
            ConnectionState.AWAIT_OPEN,
        ):
            if raw.frame_type != FRAME_METHOD or raw.channel != 0:
                raise SilentClose("unexpected frame during the handshake")
            self._handshake(decode_method(raw.payload, self.settings.table_limits))
            return True
        if raw.channel == 0:
            if raw.frame_type != FRAME_METHOD:
                raise AMQPError(
                    ReplyCode.UNEXPECTED_FRAME,
                    "expected method frame, got non method frame instead",
                )
            self._connection_method(raw.payload)
            return True
        if self.state is ConnectionState.CLOSING:
            return True
        self._channel_frame(raw.channel, raw.frame_type, raw.payload)
        return True

    def _publish_in_one_go(self) -> bool:
        """A publish whose frames have all arrived, in one step: the outcome of the frame by
        frame path when all is well. Anything it would treat differently (a channel that is
        closing or mid-content, a body above the limit, properties that do not decode) is
        left to it, and nothing is consumed."""
        buffer, start = self._reader.view()
        scanned = scan_publish(buffer, start, self._reader.frame_max)
        if scanned is None:
            return False
        end, number, method, body_size, properties_raw, body = scanned
        channel = self._channels.get(number)
        if (
            channel is None
            or not number
            or channel.state is not ChannelState.OPEN
            or channel.assembler.state is not AssemblyState.IDLE
            or body_size > channel.assembler.max_body_size
        ):
            return False
        try:
            header = content_header(60, body_size, properties_raw, channel.assembler.table_limits)
        except AMQPError:
            return False
        self._reader.consumed(end)
        # (tuple.__new__: the NamedTuple's own __new__ is a Python-level function)
        self._events.append(_new_tuple(ContentReceived, (number, method, header, body)))
        return True

    def _read_protocol_header(self) -> bool:
        seen = self._reader.peek(8)
        if seen != PROTOCOL_HEADER[: len(seen)]:
            self._send_raw(PROTOCOL_HEADER)
            raise SilentClose(f"bad protocol header {seen!r}")
        if len(seen) < 8:
            return False
        self._reader.take(8)
        self.send_method(
            0,
            commands.Connection.Start(
                version_major=0,
                version_minor=9,
                server_properties=server_properties(self.settings),
                mechanisms="PLAIN AMQPLAIN"
                if self.peer_identity is None
                else "EXTERNAL PLAIN AMQPLAIN",
                locales="en_US",
            ),
        )
        self.state = ConnectionState.AWAIT_START_OK
        return True

    # ---- handshake ---------------------------------------------------------------------------

    def _handshake(self, method: Method) -> None:
        if isinstance(method, commands.Connection.Close):
            self.send_method(0, commands.Connection.CloseOk())
            self.closed_by_client = True
            self._terminate("client closed the connection during the handshake")
            return
        if self.state is ConnectionState.AWAIT_START_OK and isinstance(
            method, commands.Connection.StartOk
        ):
            self._on_start_ok(method)
        elif self.state is ConnectionState.AWAIT_TUNE_OK and isinstance(
            method, commands.Connection.TuneOk
        ):
            self._on_tune_ok(method)
        elif self.state is ConnectionState.AWAIT_OPEN and isinstance(
            method, commands.Connection.Open
        ):
            self._on_open(method)
        else:
            raise SilentClose(f"unexpected {method.name} during the handshake")

    def _on_start_ok(self, method: commands.Connection.StartOk) -> None:
        props = method.client_properties if isinstance(method.client_properties, dict) else {}
        self.client_properties = props
        if method.mechanism == "EXTERNAL" and self.peer_identity is not None:
            username = self.peer_identity
            accepted = self._auth.authenticate_external(username, self._peer_is_loopback)
        else:
            username, password = parse_credentials(
                method.mechanism or "", method.response or "", self.settings.table_limits
            )
            accepted = self._auth.authenticate(username, password, self._peer_is_loopback)
        if not accepted:
            capabilities = props.get("capabilities")
            if isinstance(capabilities, dict) and capabilities.get("authentication_failure_close"):
                # Closing the socket right after the Close races the client's reading of it
                # (rabbitpy then sees a reset, not 403); RabbitMQ keeps the socket open for
                # 3 s, we until the Close-Ok or the close timeout.
                self._fail_connection(
                    AMQPError(
                        ReplyCode.ACCESS_REFUSED,
                        f"Login was refused using authentication mechanism {method.mechanism}. "
                        "For details see the broker logfile.",
                    )
                )
                return
            raise SilentClose("authentication failed")
        self.username = username
        self.send_method(
            0,
            commands.Connection.Tune(
                channel_max=self.settings.channel_max,
                frame_max=self.settings.frame_max,
                heartbeat=self.settings.heartbeat,
            ),
        )
        self.state = ConnectionState.AWAIT_TUNE_OK

    def _on_tune_ok(self, method: commands.Connection.TuneOk) -> None:
        _check_negotiated("channel_max", CHANNEL_MIN, self.settings.channel_max, method.channel_max)
        _check_negotiated("frame_max", FRAME_MIN_SIZE, self.settings.frame_max, method.frame_max)
        self.channel_max = method.channel_max
        self.frame_max = method.frame_max
        self._reader.frame_max = method.frame_max
        self.heartbeat = method.heartbeat
        self.state = ConnectionState.AWAIT_OPEN

    def _on_open(self, method: commands.Connection.Open) -> None:
        vhost = method.virtual_host
        try:
            self._auth.check_vhost_access(self.username, vhost)
        except AMQPError as error:
            self._fail_connection(error)
            return
        self.vhost = vhost
        self.send_method(0, commands.Connection.OpenOk())
        self.state = ConnectionState.OPEN
        self._events.append(ConnectionOpened(self.username, vhost, self.client_properties))

    # ---- after open --------------------------------------------------------------------------

    def _connection_method(self, payload: bytes) -> None:
        method = decode_method(payload, self.settings.table_limits)
        if isinstance(method, commands.Connection.Close):
            self.send_method(0, commands.Connection.CloseOk())
            self.closed_by_client = True
            self._terminate("client closed the connection")
        elif isinstance(method, commands.Connection.CloseOk):
            if self.state is ConnectionState.CLOSING:
                self.state = ConnectionState.CLOSED
        elif isinstance(method, commands.Connection.UpdateSecret):
            if self.state is ConnectionState.OPEN:
                self._update_secret(method)
        elif self.state is ConnectionState.CLOSING or isinstance(
            method, commands.Connection.Blocked | commands.Connection.Unblocked
        ):
            return
        else:
            raise AMQPError(
                ReplyCode.COMMAND_INVALID,
                f"unexpected method {method.name} on channel 0",
                method.index >> 16,
                method.index & 0xFFFF,
            )

    def _update_secret(self, method: commands.Connection.UpdateSecret) -> None:
        """RabbitMQ's extension for credentials that expire (OAuth 2 tokens): the user store
        decides, as RabbitMQ's access control does; a refusal closes the connection (530,
        RabbitMQ's text when a backend refuses)."""
        secret = method.new_secret
        if isinstance(secret, bytes):
            secret = secret.decode("utf-8", "replace")
        if not self._auth.secret_update_allowed(self.username, secret or ""):
            raise AMQPError(
                ReplyCode.NOT_ALLOWED, "New secret was refused by one of the backends", 10, 70
            )
        self.send_method(0, commands.Connection.UpdateSecretOk())

    def _channel_frame(self, number: int, frame_type: int, payload: bytes) -> None:
        channel = self._channels.get(number)
        if channel is not None and channel.state is ChannelState.CLOSING:
            if frame_type == FRAME_METHOD:
                self._closing_channel_method(number, payload)
            return
        if frame_type == FRAME_METHOD:
            if payload[:4] == ACCESS_REQUEST_INDEX.to_bytes(4, "big"):
                self._send_raw(frame(FRAME_METHOD, number, ACCESS_REQUEST_OK_PAYLOAD))
                return
            method = decode_method(payload, self.settings.table_limits)
            if channel is None:
                self._open_channel(number, method)
                return
            self._channel_method(number, channel, method)
            return
        if channel is None:
            raise AMQPError(ReplyCode.CHANNEL_ERROR, "expected 'channel.open'")
        try:
            content = (
                channel.assembler.on_header(payload)
                if frame_type == FRAME_HEADER
                else channel.assembler.on_body(payload)
                if frame_type == FRAME_BODY
                else None
            )
        except AMQPError as error:
            if error.closes_connection:
                raise
            self.fail(number, error)  # e.g. a message above max_message_size: 406 on the channel
            return
        if content is not None:
            self._content_event(number, content)

    def _content_event(self, number: int, content: Content) -> None:
        self._events.append(ContentReceived(number, content.method, content.header, content.body))

    def _open_channel(self, number: int, method: Method) -> None:
        if not isinstance(method, commands.Channel.Open):
            raise AMQPError(
                ReplyCode.CHANNEL_ERROR,
                "expected 'channel.open'",
                method.index >> 16,
                method.index & 0xFFFF,
            )
        # RabbitMQ 3.10 limits the number of open channels, not the channel number.
        if self.channel_max and len(self._channels) >= self.channel_max:
            raise AMQPError(
                ReplyCode.NOT_ALLOWED,
                f"number of channels opened ({len(self._channels)}) has reached the "
                f"negotiated channel_max ({self.channel_max})",
                20,
                10,
            )
        self._channels[number] = _Channel(
            assembler=CommandAssembler(
                max_body_size=self.settings.max_message_size,
                table_limits=self.settings.table_limits,
            )
        )
        self.send_method(number, commands.Channel.OpenOk())
        self._events.append(ChannelOpened(number))

    def _channel_method(self, number: int, channel: _Channel, method: Method) -> None:
        if isinstance(method, commands.Channel.Open):
            raise AMQPError(ReplyCode.CHANNEL_ERROR, "second 'channel.open' seen", 20, 10)
        if isinstance(method, commands.Channel.Close):
            del self._channels[number]
            self.send_method(number, commands.Channel.CloseOk())
            self._events.append(ChannelClosed(number))
            return
        if isinstance(method, commands.Channel.CloseOk):
            return  # nothing to confirm: we did not close it
        if isinstance(method, commands.Channel.Flow):
            if not method.active:
                raise AMQPError(ReplyCode.NOT_IMPLEMENTED, "active=false", 20, 20)
            self.send_method(number, commands.Channel.FlowOk(active=True))
            return
        complete = channel.assembler.on_method(
            method, carries_content=isinstance(method, commands.Basic.Publish)
        )
        if complete is not None:
            self._events.append(MethodReceived(number, complete))

    def _closing_channel_method(self, number: int, payload: bytes) -> None:
        try:
            method = decode_method(payload, self.settings.table_limits)
        except AMQPError:
            return  # everything but Close-Ok is ignored on a closing channel
        if isinstance(method, commands.Channel.CloseOk):
            del self._channels[number]
        elif isinstance(method, commands.Channel.Close):
            del self._channels[number]
            self.send_method(number, commands.Channel.CloseOk())

    # ---- output ------------------------------------------------------------------------------

    def _send_raw(self, data: bytes) -> None:
        self._out.append(data)
        self._out_size += len(data)

    def send_method(self, channel: int, method: Method) -> None:
        self._send_raw(encode_method(channel, method))

    def send_content(
        self, channel: int, method: Method, properties_raw: bytes, body: bytes
    ) -> None:
        """A method followed by its content header and body frames, split at frame_max."""
        self._send_raw(encode_method(channel, method))
        for part in encode_content(channel, properties_raw, body, self.frame_max):
            self._send_raw(part)

    def send_frames(self, data: bytes) -> None:
        """Pre-encoded frames (the broker's fast paths)."""
        self._send_raw(data)

    def data_to_send(self) -> bytes:
        if not self._out:
            return b""
        data = b"".join(self._out)
        self._out.clear()
        self._out_size = 0
        self._last_sent = self._now
        return data

    @property
    def pending_output(self) -> int:
        return self._out_size

    def channel_is_open(self, number: int) -> bool:
        channel = self._channels.get(number)
        return channel is not None and channel.state is ChannelState.OPEN

    @property
    def is_open(self) -> bool:
        return self.state is ConnectionState.OPEN

    @property
    def closed(self) -> bool:
        """True once nothing more will be read; flush data_to_send() and close the socket."""
        return self.state is ConnectionState.CLOSED

    # ---- closing -----------------------------------------------------------------------------

    def fail(self, channel: int, error: AMQPError) -> None:
        """The one place an AMQPError becomes a Close: the channel's or the connection's."""
        if self.state in (ConnectionState.CLOSING, ConnectionState.CLOSED):
            return
        if self.state is not ConnectionState.OPEN:
            self._terminate(error.text)
            return
        if channel == 0 or error.closes_connection or channel not in self._channels:
            self._fail_connection(error)
            return
        if self._channels[channel].state is ChannelState.CLOSING:
            return  # one Channel.Close (and one ChannelClosed) per close
        self._channels[channel].state = ChannelState.CLOSING
        self.send_method(
            channel,
            commands.Channel.Close(
                reply_code=int(error.code),
                reply_text=error.text,
                class_id=error.class_id,
                method_id=error.method_id,
            ),
        )
        self._events.append(ChannelClosed(channel))

    def close(self, code: ReplyCode, detail: str) -> None:
        """Server-initiated connection close, e.g. 320 CONNECTION_FORCED on shutdown."""
        if self.state is ConnectionState.OPEN:
            self._fail_connection(AMQPError(code, detail))
        elif self.state is not ConnectionState.CLOSING:
            self._terminate(detail)

    def _send_close(self, error: AMQPError) -> None:
        self.send_method(
            0,
            commands.Connection.Close(
                reply_code=int(error.code),
                reply_text=error.text,
                class_id=error.class_id,
                method_id=error.method_id,
            ),
        )

    def _fail_connection(self, error: AMQPError) -> None:
        self._send_close(error)
        self.state = ConnectionState.CLOSING
        self.close_reason = error.text
        self._channels.clear()
        self._events.append(ConnectionClosed(error.text))

    def _terminate(self, reason: str) -> None:
        """No more input; the broker hears ConnectionClosed exactly once."""
        already_reported = self.state is ConnectionState.CLOSING
        self.state = ConnectionState.CLOSED
        self._channels.clear()
        if not self.close_reason:
            self.close_reason = reason
        if not already_reported:
            self._events.append(ConnectionClosed(reason))

    # ---- time --------------------------------------------------------------------------------

    def tick(self, now: float, handshake_timeout: float) -> float | None:
        """Heartbeats and handshake timeout; returns when to call again (None: not needed)."""
        self._now = now
        if self.state is ConnectionState.CLOSED:
            return None
        if self.state in (
            ConnectionState.AWAIT_HEADER,
            ConnectionState.AWAIT_START_OK,
            ConnectionState.AWAIT_TUNE_OK,
            ConnectionState.AWAIT_OPEN,
        ):
            deadline = self.opened_at + handshake_timeout
            if now >= deadline:
                self._terminate("handshake timeout")
                return None
            return deadline
        if not self.heartbeat:
            return None
        if now - self._last_received > 2 * self.heartbeat:
            self._terminate(f"missed heartbeats from client, timeout: {self.heartbeat}s")
            return None
        interval = self.heartbeat / 2
        if now - self._last_sent >= interval and self.state is ConnectionState.OPEN:
            self._send_raw(HEARTBEAT_FRAME)
            self._last_sent = now
        return min(self._last_sent + interval, self._last_received + 2 * self.heartbeat + 0.001)


def _check_negotiated(name: str, minimum: int, server_max: int, client_value: int) -> None:
    """RabbitMQ's validate_negotiated_integer_value: 0 or above our maximum is refused."""
    if client_value != 0 and client_value < minimum:
        raise SilentClose(f"{name} {client_value} below the minimum {minimum}")
    if server_max != 0 and (client_value == 0 or client_value > server_max):
        raise SilentClose(f"{name} {client_value} above the maximum {server_max}")
