# One error type for everything that ends in an AMQP close.
#
# Rules kept here:
# - An AMQPError carries its reply code, the detail text and the class/method ids of the command
#   that failed; whether it closes the channel or the whole connection follows from the reply
#   code alone (the spec's table of soft and hard errors), never from where it was raised.
# - Reply text looks like RabbitMQ's: "NOT_FOUND - no queue 'q' in vhost '/'", cut to 255 bytes
#   because reply-text is a short string on the wire.
from __future__ import annotations

import enum


class ReplyCode(enum.IntEnum):
    REPLY_SUCCESS = 200
    CONTENT_TOO_LARGE = 311
    NO_ROUTE = 312
    NO_CONSUMERS = 313
    CONNECTION_FORCED = 320
    INVALID_PATH = 402
    ACCESS_REFUSED = 403
    NOT_FOUND = 404
    RESOURCE_LOCKED = 405
    PRECONDITION_FAILED = 406
    FRAME_ERROR = 501
    SYNTAX_ERROR = 502
    COMMAND_INVALID = 503
    CHANNEL_ERROR = 504
    UNEXPECTED_FRAME = 505
    RESOURCE_ERROR = 506
    NOT_ALLOWED = 530
    NOT_IMPLEMENTED = 540
    INTERNAL_ERROR = 541


# The spec marks these as channel ("soft") errors; every other error code closes the connection.
_CHANNEL_LEVEL = frozenset(
    {
        ReplyCode.CONTENT_TOO_LARGE,
        ReplyCode.NO_ROUTE,
        ReplyCode.NO_CONSUMERS,
        ReplyCode.ACCESS_REFUSED,
        ReplyCode.NOT_FOUND,
        ReplyCode.RESOURCE_LOCKED,
        ReplyCode.PRECONDITION_FAILED,
    }
)

MAX_REPLY_TEXT = 255


def reply_text(code: ReplyCode, detail: str) -> str:
    """RabbitMQ's format, cut to fit a short string without splitting a UTF-8 sequence."""
    text = f"{code.name} - {detail}" if detail else code.name
    encoded = text.encode("utf-8")
    if len(encoded) <= MAX_REPLY_TEXT:
        return text
    return encoded[:MAX_REPLY_TEXT].decode("utf-8", "ignore")


class AMQPError(Exception):
    """A protocol or semantic failure that the peer is told about with a Close method.

    class_id and method_id name the command that failed (0, 0 when no command is to blame, such as a
    bad frame). The broker raises this where it finds the problem; exactly one place (the protocol
    connection) turns it into Channel.Close or Connection.Close.
    """

    def __init__(
        self, code: ReplyCode, detail: str = "", class_id: int = 0, method_id: int = 0
    ) -> None:
        super().__init__(reply_text(code, detail))
        self.code = code
        self.detail = detail
        self.class_id = class_id
        self.method_id = method_id

    @property
    def text(self) -> str:
        return reply_text(self.code, self.detail)

    @property
    def closes_connection(self) -> bool:
        return self.code not in _CHANNEL_LEVEL

    def for_method(self, class_id: int, method_id: int) -> AMQPError:
        """Blame a command, unless the raiser already did; returns self for `raise ... from`."""
        if not self.class_id and not self.method_id:
            self.class_id, self.method_id = class_id, method_id
        return self


class SilentClose(Exception):  # noqa: N818 - it is an instruction, not an error report
    """End the connection with no Close frame, as RabbitMQ does before a client is authenticated.

    Raised by the protocol layer for handshake violations; the text is for logs only.
    """
