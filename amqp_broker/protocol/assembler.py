# Per-channel content assembly: a content-bearing method, then its header, then body frames.
#
# Rules kept here (the same state machine as RabbitMQ's rabbit_command_assembler):
# - Idle: only a method frame is valid; a header or body is UNEXPECTED_FRAME (505).
# - After basic.publish: only a content header for class 60 (Basic) is valid.
# - Then body frames until exactly body_size bytes arrived; more than declared is FRAME_ERROR (501).
# - A header declaring a body above max_body_size is refused at once (406, RabbitMQ's text), so
#   a huge declared size never makes us buffer anything.
from __future__ import annotations

import enum
from typing import NamedTuple

from pamqp.base import Frame as Method

from amqp_broker.errors import AMQPError, ReplyCode
from amqp_broker.protocol.codec import (
    FRAME_BODY,
    FRAME_HEADER,
    ContentHeader,
    decode_content_header,
)
from amqp_broker.protocol.fieldscan import DEFAULT_LIMITS, TableLimits


class AssemblyState(enum.Enum):
    IDLE = "idle"
    EXPECT_HEADER = "expect_header"
    EXPECT_BODY = "expect_body"


class Content(NamedTuple):  # one per publish: cheaper than a frozen dataclass
    method: Method
    header: ContentHeader
    body: bytes


class CommandAssembler:
    """Feed it one channel's frames; it returns a finished command or content, or None."""

    def __init__(
        self, max_body_size: int = 128 * 1024 * 1024, table_limits: TableLimits = DEFAULT_LIMITS
    ) -> None:
        self.max_body_size = max_body_size
        self.table_limits = table_limits
        self.state = AssemblyState.IDLE
        self._method: Method | None = None
        self._header: ContentHeader | None = None
        self._parts: list[bytes] = []
        self._received = 0

    def _expected_class(self) -> int:
        assert self._method is not None
        return self._method.index >> 16

    def on_method(self, method: Method, carries_content: bool) -> Method | None:
        """Returns the method if it is complete by itself; None while content must follow."""
        if self.state is not AssemblyState.IDLE:
            raise AMQPError(
                ReplyCode.UNEXPECTED_FRAME,
                f"expected content header for class {self._expected_class()}, "
                "got non content header frame instead",
                method.index >> 16,
                method.index & 0xFFFF,
            )
        if not carries_content:
            return method
        self._method = method
        self.state = AssemblyState.EXPECT_HEADER
        return None

    def on_header(self, payload: bytes) -> Content | None:
        if self.state is not AssemblyState.EXPECT_HEADER:
            raise self._unexpected(FRAME_HEADER)
        header = decode_content_header(payload, self.table_limits)
        expected = self._expected_class()
        if header.class_id != expected:
            raise AMQPError(
                ReplyCode.UNEXPECTED_FRAME,
                f"expected content header for class {expected}, "
                f"got one for class {header.class_id}",
                *_ids(self._method),
            )
        if header.body_size > self.max_body_size:
            # The channel closes; its remaining body frames are then dropped unread.
            self.state = AssemblyState.IDLE
            raise AMQPError(
                ReplyCode.PRECONDITION_FAILED,
                f"message size {header.body_size} is larger than configured max size "
                f"{self.max_body_size}",
                *_ids(self._method),
            )
        self._header = header
        if header.body_size == 0:
            return self._finish()
        self.state = AssemblyState.EXPECT_BODY
        return None

    def on_body(self, payload: bytes) -> Content | None:
        if self.state is not AssemblyState.EXPECT_BODY:
            raise self._unexpected(FRAME_BODY)
        assert self._header is not None
        self._received += len(payload)
        if self._received > self._header.body_size:
            raise AMQPError(
                ReplyCode.FRAME_ERROR,
                f"body of {self._received} bytes exceeds the declared size "
                f"{self._header.body_size}",
                *_ids(self._method),
            )
        self._parts.append(payload)
        if self._received == self._header.body_size:
            return self._finish()
        return None

    def _finish(self) -> Content:
        assert self._method is not None and self._header is not None
        body = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
        content = Content(self._method, self._header, body)
        self.state = AssemblyState.IDLE
        self._method = self._header = None
        self._parts = []
        self._received = 0
        return content

    def _unexpected(self, frame_type: int) -> AMQPError:
        if self.state is AssemblyState.IDLE:
            return AMQPError(
                ReplyCode.UNEXPECTED_FRAME, "expected method frame, got non method frame instead"
            )
        kind = "content body" if frame_type == FRAME_BODY else "method"
        return AMQPError(
            ReplyCode.UNEXPECTED_FRAME,
            f"expected content header for class {self._expected_class()}, got {kind} frame instead",
            *_ids(self._method),
        )


def _ids(method: Method | None) -> tuple[int, int]:
    if method is None:
        return 0, 0
    return method.index >> 16, method.index & 0xFFFF
