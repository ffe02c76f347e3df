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
    ("x-queue-type", _one_of("queue type", "classic", "quorum", "stream"), None),
)
EQUIVALENCE_ARGS: tuple[str, ...] = tuple(key for key, _check, _field in DECLARE_ARGS)


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
    values: dict[str, Any] = {}
    for key, check, field in DECLARE_ARGS:
        if key not in arguments:
            continue
        try:
            value = check(arguments[key])
            if key == "x-dead-letter-routing-key" and "x-dead-letter-exchange" not in arguments:
                raise InvalidArgumentError("routing_key_but_no_dlx_defined")
        except InvalidArgumentError as problem:
            raise invalid_arg(key, resource, str(problem)) from None
        if field is not None:
            values[field] = value
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
