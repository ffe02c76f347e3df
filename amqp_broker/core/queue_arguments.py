# The x- arguments of queue.declare and basic.consume: checked and turned into typed options.
#
# Rules kept here (RabbitMQ 3.10's rabbit_amqqueue check_* validators):
# - Arguments are checked only when a queue is created; a redeclare is compared instead
#   (vhost's equivalence check), so an invalid value on redeclare is an "inequivalent arg".
# - Every failure is 406 PRECONDITION_FAILED "invalid arg 'KEY' for queue 'Q' in vhost 'V': TERM",
#   TERM printed as Erlang prints the validator's error ({value_negative,-1}, invalid_overflow,
#   "expected integer, got longstr"); the texts were measured on RabbitMQ 3.10.8.
# - Integer arguments accept any integer field type and nothing else (not bool, not double);
#   string arguments accept only longstr (a byte array is 'binary' and refused).
# - Validators run in RabbitMQ's declare_args() order, so the first problem reported is its.
# - A field's type is named from its decoded value (exchanges.field_values.type_tag): an int is
#   'signedint' or 'long' as pika and py-amqp send them, where RabbitMQ names the wire type.
from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from amqp_broker.errors import AMQPError, ReplyCode
from exchanges.field_values import type_tag

MAX_PRIORITY = 255
# Ten years in milliseconds: the largest TTL or x-expires RabbitMQ 3.10.8 accepts (measured).
MAX_EXPIRY = 315360000000


class Overflow(enum.Enum):
    DROP_HEAD = "drop-head"
    REJECT_PUBLISH = "reject-publish"
    REJECT_PUBLISH_DLX = "reject-publish-dlx"


@dataclass(frozen=True, slots=True)
class QueueOptions:
    """What a queue's arguments ask for; None means the feature is off."""

    max_priority: int = 0
    message_ttl: int | None = None  # milliseconds
    expires: int | None = None  # milliseconds unused before the queue is deleted
    max_length: int | None = None  # ready messages
    max_length_bytes: int | None = None  # body bytes of ready messages
    overflow: Overflow = Overflow.DROP_HEAD
    dead_letter_exchange: str | None = None
    dead_letter_routing_key: str | None = None
    single_active_consumer: bool = False

    @property
    def limited(self) -> bool:
        return self.max_length is not None or self.max_length_bytes is not None


class InvalidArgumentError(ValueError):
    """A validator's error term, printed into the reply text by the caller."""


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f'"expected integer, got {type_tag(value)}"')
    return value


def _non_negative(value: Any) -> int:
    number = _int(value)
    if number < 0:
        raise InvalidArgumentError(f"{{value_negative,{number}}}")
    return number


def check_expiry(number: int) -> int:
    """rabbit_misc:check_expiry: the bound every TTL shares."""
    if number < 0:
        raise InvalidArgumentError(f"{{value_negative,{number}}}")
    if number > MAX_EXPIRY:
        raise InvalidArgumentError(f"{{value_too_large,{number}}}")
    return number


def _message_ttl(value: Any) -> int:
    return check_expiry(_int(value))


def _expires(value: Any) -> int:
    number = _int(value)
    if number == 0:
        raise InvalidArgumentError("{value_zero,0}")
    return check_expiry(number)


def _max_priority(value: Any) -> int:
    number = _non_negative(value)
    if number > MAX_PRIORITY:
        raise InvalidArgumentError(f"{{max_value_exceeded,{number}}}")
    return number


def _longstr(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{{unacceptable_type,{type_tag(value)}}}")
    return value


def _overflow(value: Any) -> Overflow:
    text = _longstr(value)
    try:
        return Overflow(text)
    except ValueError:
        raise InvalidArgumentError("invalid_overflow") from None


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{{unacceptable_type,{type_tag(value)}}}")
    return value


def _one_of(what: str, *allowed: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        text = _longstr(value)
        if text not in allowed:
            raise InvalidArgumentError(f"\"unsupported {what} '{text}'\"")
        return text

    return check


def _queue_version(value: Any) -> int:
    number = _non_negative(value)
    if number not in (1, 2):
        raise InvalidArgumentError(f"\"unsupported queue version '{number}'\"")
    return number


_QUEUE_TYPE = _one_of("queue type", "classic", "quorum", "stream")

# RabbitMQ's declare_args() order, the order the checks run in and equivalence is compared in:
# (argument, validator, QueueOptions field or None when the value only has to be valid).
DECLARE_ARGS: tuple[tuple[str, Callable[[Any], Any], str | None], ...] = (
    ("x-expires", _expires, "expires"),
    ("x-message-ttl", _message_ttl, "message_ttl"),
    ("x-dead-letter-exchange", _longstr, "dead_letter_exchange"),
    ("x-dead-letter-routing-key", _longstr, "dead_letter_routing_key"),
    ("x-max-length", _non_negative, "max_length"),
    ("x-max-length-bytes", _non_negative, "max_length_bytes"),
    ("x-max-priority", _max_priority, "max_priority"),
    ("x-overflow", _overflow, "overflow"),
    ("x-queue-mode", _one_of("queue mode", "default", "lazy"), None),
    ("x-queue-version", _queue_version, None),
    ("x-single-active-consumer", _bool, "single_active_consumer"),
    # only classic queues exist here; quorum and stream are accepted and behave as classic
    ("x-queue-type", _QUEUE_TYPE, None),
)
EQUIVALENCE_ARGS: tuple[str, ...] = tuple(key for key, _check, _field in DECLARE_ARGS)

# The declare arguments each queue type takes (RabbitMQ 3.10.8, measured). Every queue here
# behaves as a classic one, but a declare is refused where RabbitMQ would refuse it, so code
# tested here does not fail on its first run against RabbitMQ.
_SHARED_ARGS = frozenset({"x-queue-type", "x-max-length-bytes"})
_TYPE_ARGS: dict[str, frozenset[str]] = {
    "classic": _SHARED_ARGS
    | {
        "x-expires",
        "x-message-ttl",
        "x-dead-letter-exchange",
        "x-dead-letter-routing-key",
        "x-max-length",
        "x-max-priority",
        "x-overflow",
        "x-queue-mode",
        "x-queue-version",
        "x-single-active-consumer",
    },
    "quorum": _SHARED_ARGS
    | {
        "x-expires",
        "x-message-ttl",
        "x-dead-letter-exchange",
        "x-dead-letter-routing-key",
        "x-dead-letter-strategy",
        "x-max-length",
        "x-max-in-memory-length",
        "x-max-in-memory-bytes",
        "x-overflow",
        "x-single-active-consumer",
        "x-delivery-limit",
        "x-quorum-initial-group-size",
        "x-queue-leader-locator",
    },
    "stream": _SHARED_ARGS
    | {
        "x-max-age",
        "x-stream-max-segment-size-bytes",
        "x-initial-cluster-size",
        "x-queue-leader-locator",
    },
}
# Arguments no queue type knows are ignored, as RabbitMQ ignores them.
_KNOWN_ARGS = frozenset().union(*_TYPE_ARGS.values())


def queue_type(arguments: Mapping[str, Any]) -> str:
    """The declared x-queue-type when it is one RabbitMQ knows, else classic."""
    value = arguments.get("x-queue-type")
    return value if isinstance(value, str) and value in _TYPE_ARGS else "classic"


def check_server_named(arguments: Mapping[str, Any]) -> None:
    """Only classic queues may be server-named; RabbitMQ's channel checks this first."""
    kind = queue_type(arguments)
    if kind != "classic":
        raise AMQPError(
            ReplyCode.PRECONDITION_FAILED,
            f"Cannot declare a server-named queue for type rabbit_{kind}_queue",
        )


def check_queue_type_properties(
    resource: str,
    arguments: Mapping[str, Any],
    *,
    durable: bool,
    exclusive: bool,
    auto_delete: bool,
) -> None:
    """Quorum and stream queues are durable, shared and never auto-deleted: RabbitMQ refuses
    the first property that breaks this, in this order, after the arguments' checks."""
    if queue_type(arguments) == "classic":
        return
    for prop, broken in (
        ("auto-delete", auto_delete),
        ("exclusive-owner", exclusive),
        ("non-durable", not durable),
    ):
        if broken:
            raise AMQPError(
                ReplyCode.PRECONDITION_FAILED, f"invalid property '{prop}' for {resource}"
            )


def _check_type_takes(arguments: Mapping[str, Any], resource: str) -> None:
    """A known argument that the queue's type does not take, in the client's table order."""
    kind = queue_type(arguments)
    allowed = _TYPE_ARGS[kind]
    for key in arguments:
        if key in _KNOWN_ARGS and key not in allowed:
            raise AMQPError(
                ReplyCode.PRECONDITION_FAILED,
                f"invalid arg '{key}' for {resource} of queue type rabbit_{kind}_queue",
            )


def invalid_arg(key: str, resource: str, term: str) -> AMQPError:
    return AMQPError(ReplyCode.PRECONDITION_FAILED, f"invalid arg '{key}' for {resource}: {term}")


def parse_queue_arguments(arguments: Mapping[str, Any], resource: str) -> QueueOptions:
    """The options a new queue's arguments ask for.

    Raises AMQPError(PRECONDITION_FAILED) with RabbitMQ's text for the first invalid argument;
    `resource` is "queue 'q' in vhost '/'". Unknown x- arguments are ignored, as RabbitMQ does.
    """
    dlx = arguments.get("x-dead-letter-exchange")
    if dlx is not None and not isinstance(dlx, str):
        # rabbit_channel checks the DLX's type before any validator runs, with its own text
        raise AMQPError(
            ReplyCode.PRECONDITION_FAILED,
            f"invalid type '{type_tag(dlx)}' for arg 'x-dead-letter-exchange' in {resource}",
        )
    if "x-queue-type" in arguments:
        try:
            _QUEUE_TYPE(arguments["x-queue-type"])
        except InvalidArgumentError as problem:
            raise invalid_arg("x-queue-type", resource, str(problem)) from None
    allowed = _TYPE_ARGS[queue_type(arguments)]
    values: dict[str, Any] = {}
    for key, check, field in DECLARE_ARGS:
        if key not in arguments or key not in allowed:
            continue
        try:
            value = check(arguments[key])
            if key == "x-dead-letter-routing-key" and "x-dead-letter-exchange" not in arguments:
                raise InvalidArgumentError("routing_key_but_no_dlx_defined")
        except InvalidArgumentError as problem:
            raise invalid_arg(key, resource, str(problem)) from None
        if field is not None:
            values[field] = value
    _check_type_takes(arguments, resource)  # after the values it takes (measured)
    return QueueOptions(**values)


def consumer_priority(arguments: Mapping[str, Any], resource: str) -> int:
    """basic.consume's x-priority (0 when absent), after RabbitMQ's consume_args() checks:
    406 when x-priority is not an integer or x-cancel-on-ha-failover not a bool."""
    for key, check in (("x-priority", _int), ("x-cancel-on-ha-failover", _bool)):
        if key in arguments:
            try:
                check(arguments[key])
            except InvalidArgumentError as problem:
                raise invalid_arg(key, resource, str(problem)) from None
    priority: int = arguments.get("x-priority", 0)
    return priority
