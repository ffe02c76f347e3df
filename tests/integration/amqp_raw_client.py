# A minimal AMQP client over a trio stream for tests that need byte-level control (heartbeats,
# silence, malformed input), built on pamqp's client-side encoder.
from __future__ import annotations

from typing import Any

import trio
from pamqp import commands, frame, heartbeat
from pamqp.base import Frame as Method
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"


class RawClient:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self._buffer = b""

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        return cls(await trio.open_tcp_stream("127.0.0.1", port))

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def send_method(self, channel: int, method: Method) -> None:
        await self.send(frame.marshal(method, channel))

    async def publish(
        self,
        channel: int,
        routing_key: str,
        body: bytes,
        properties: commands.Basic.Properties | None = None,
    ) -> None:
        properties = properties or commands.Basic.Properties()
        await self.send(
            frame.marshal(commands.Basic.Publish(routing_key=routing_key), channel)
            + frame.marshal(ContentHeader(0, len(body), properties), channel)
            + frame.marshal(ContentBody(body), channel)
        )

    async def read_frame(self) -> tuple[int, Any]:
        """The next (channel, frame); raises EOFError when the server closed the socket."""
        while True:
            if len(self._buffer) >= 7:
                size = int.from_bytes(self._buffer[3:7], "big")
                if len(self._buffer) >= size + 8:
                    consumed, channel, value = frame.unmarshal(self._buffer)
                    self._buffer = self._buffer[consumed:]
                    return channel, value
            data = await self.stream.receive_some(65536)
            if not data:
                raise EOFError("server closed the connection")
            self._buffer += data

    async def read_raw_frame(self) -> bytes:
        """The next whole frame's bytes, undecoded (for methods pamqp cannot decode)."""
        while True:
            if len(self._buffer) >= 7:
                size = int.from_bytes(self._buffer[3:7], "big") + 8
                if len(self._buffer) >= size:
                    raw, self._buffer = self._buffer[:size], self._buffer[size:]
                    return raw
            data = await self.stream.receive_some(65536)
            if not data:
                raise EOFError("server closed the connection")
            self._buffer += data

    async def read_method(self) -> tuple[int, Any]:
        """The next frame that is not a heartbeat."""
        while True:
            channel, value = await self.read_frame()
            if not isinstance(value, heartbeat.Heartbeat):
                return channel, value

    async def expect_eof(self) -> bytes:
        """Everything sent until the server closes; the test fails (by timeout) if it never does."""
        received = self._buffer
        self._buffer = b""
        while data := await self.stream.receive_some(65536):
            received += data
        return received

    async def handshake(
        self, *, heartbeat_seconds: int = 0, user: str = "guest", password: str = "guest"
    ) -> None:
        await self.send(PROTOCOL_HEADER)
        _, start = await self.read_method()
        assert isinstance(start, commands.Connection.Start)
        await self.send_method(
            0,
            commands.Connection.StartOk(
                client_properties={"capabilities": {"authentication_failure_close": True}},
                mechanism="PLAIN",
                response=f"\0{user}\0{password}",
            ),
        )
        _, tune = await self.read_method()
        assert isinstance(tune, commands.Connection.Tune), tune
        await self.send_method(
            0,
            commands.Connection.TuneOk(
                channel_max=tune.channel_max, frame_max=tune.frame_max, heartbeat=heartbeat_seconds
            ),
        )
        await self.send_method(0, commands.Connection.Open(virtual_host="/"))
        _, open_ok = await self.read_method()
        assert isinstance(open_ok, commands.Connection.OpenOk)

    async def open_channel(self, channel: int = 1) -> None:
        await self.send_method(channel, commands.Channel.Open())
        _, reply = await self.read_method()
        assert isinstance(reply, commands.Channel.OpenOk)

    async def aclose(self) -> None:
        await self.stream.aclose()
