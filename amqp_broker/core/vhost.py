# A virtual host: its exchanges, queues and bindings, and routing between them.
#
# Rules kept here:
# - Declares check equivalence the way RabbitMQ does and fail with its reply codes and texts.
# - Routing follows exchange-to-exchange bindings with a visited set (loops terminate) and falls
#   back to an exchange's alternate exchange when that exchange itself routes nowhere; a queue is
#   reached at most once per publish however many paths lead to it.
# - The default exchange routes by queue name and cannot be bound, unbound or deleted.
from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from amqp_broker.core.queue import MemoryMeter, Queue
from amqp_broker.core.queue_arguments import (
    EQUIVALENCE_ARGS,
    check_queue_type_properties,
    parse_queue_arguments,
)
from amqp_broker.errors import AMQPError, ReplyCode
from exchanges import (
    ExchangeType,
    InvalidBinding,
    UnknownExchangeType,
    create_exchange_type,
    exchange_type_class,
)
from exchanges.field_values import type_tag

QUEUE = "queue"
EXCHANGE = "exchange"
Destination = tuple[str, str]  # (QUEUE or EXCHANGE, name)

PREDECLARED = {
    "amq.direct": "direct",
    "amq.fanout": "fanout",
    "amq.topic": "topic",
    "amq.headers": "headers",
    "amq.match": "headers",
}


@dataclass(eq=False)
class Exchange:
    name: str
    type_name: str
    table: ExchangeType[Destination]
    durable: bool = False
    auto_delete: bool = False
    internal: bool = False
    arguments: dict[str, Any] = field(default_factory=dict)

    @property
    def alternate(self) -> str | None:
        value = self.arguments.get("alternate-exchange")
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        return value if isinstance(value, str) else None


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _check_flags(resource: str, *flags: tuple[str, bool, bool]) -> None:
    """406 for the first (name, received, current) flag of a redeclaration that differs."""
    for flag, received, current in flags:
        if received != current:
            raise AMQPError(
                ReplyCode.PRECONDITION_FAILED,
                f"inequivalent arg '{flag}' for {resource}: "
                f"received '{_flag(received)}' but current is '{_flag(current)}'",
            )


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return _flag(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _describe(arguments: Mapping[str, Any], key: str, other: Mapping[str, Any]) -> str:
    """An argument the way RabbitMQ prints it in 'inequivalent arg' errors (measured on
    3.10.8): 'v' when both sides have it, else "the value 'v' of type 't'" or "none"."""
    if key not in arguments:
        return "none"
    value = arguments[key]
    if key in other:
        return f"'{_shown(value)}'"
    return f"the value '{_shown(value)}' of type '{type_tag(value)}'"


def _same_value(a: Any, b: Any) -> bool:
    """rabbit_misc:assert_args_equivalence: equal values of the same type class (every
    integer width is one class, so 1 equals 1 whatever its width, but not 1.0 or True)."""
    return _type_class(a) == _type_class(b) and bool(a == b)


def _type_class(value: Any) -> str:
    tag = type_tag(value)
    return "int" if tag in ("signedint", "long") else tag


def new_queue_name() -> str:
    return "amq.gen-" + base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")


class VirtualHost:
    def __init__(self, name: str, meter: MemoryMeter | None = None) -> None:
        self.name = name
        self.meter = meter or MemoryMeter()
        self.exchanges: dict[str, Exchange] = {}
        self.queues: dict[str, Queue] = {}
        self._predeclare()

    def clear_exchanges(self) -> None:
        """Drop every declared exchange and every binding: only the predeclared exchanges
        remain, unbound (a test's reset; queues are deleted by the broker first)."""
        self.exchanges = {}
        self._predeclare()

    def _predeclare(self) -> None:
        self._add_exchange(Exchange("", "direct", create_exchange_type("direct"), durable=True))
        for exchange_name, type_name in PREDECLARED.items():
            self._add_exchange(
                Exchange(exchange_name, type_name, create_exchange_type(type_name), durable=True)
            )
        self._add_exchange(
            Exchange(
                "amq.rabbitmq.trace",
                "topic",
                create_exchange_type("topic"),
                durable=True,
                internal=True,
            )
        )

    def _add_exchange(self, exchange: Exchange) -> None:
        self.exchanges[exchange.name] = exchange

    # ---- names -------------------------------------------------------------------------------

    def _queue_resource(self, name: str) -> str:
        return f"queue '{name}' in vhost '{self.name}'"

    def _exchange_resource(self, name: str) -> str:
        return f"exchange '{name}' in vhost '{self.name}'"

    def exchange_or_404(self, name: str) -> Exchange:
        exchange = self.exchanges.get(name)
        if exchange is None:
            raise AMQPError(ReplyCode.NOT_FOUND, f"no {self._exchange_resource(name)}")
        return exchange

    def queue_or_404(self, name: str) -> Queue:
        queue = self.queues.get(name)
        if queue is None:
            raise AMQPError(ReplyCode.NOT_FOUND, f"no {self._queue_resource(name)}")
        return queue

    def _not_default(self, name: str) -> None:
        if name == "":
            raise AMQPError(
                ReplyCode.ACCESS_REFUSED, "operation not permitted on the default exchange"
            )

    # ---- exchanges ---------------------------------------------------------------------------

    def declare_exchange(
        self,
        name: str,
        type_name: str,
        *,
        passive: bool = False,
        durable: bool = False,
        auto_delete: bool = False,
        internal: bool = False,
        arguments: Mapping[str, Any] | None = None,
    ) -> Exchange:
        if passive:
            # RabbitMQ refuses even a passive declare of the default exchange (403)
            self._not_default(name)
            return self.exchange_or_404(name)
        try:
            exchange_type_class(type_name)
        except UnknownExchangeType as exc:
            raise AMQPError(
                ReplyCode.COMMAND_INVALID, f"unknown exchange type '{type_name}'"
            ) from exc
        self._not_default(name)
        args = dict(arguments or {})
        existing = self.exchanges.get(name)
        if existing is None:
            if name.startswith("amq."):
                raise AMQPError(
                    ReplyCode.ACCESS_REFUSED,
                    f"exchange name '{name}' contains reserved prefix 'amq.*'",
                )
            if "alternate-exchange" in args and not isinstance(
                args["alternate-exchange"], str | bytes
            ):
                raise AMQPError(
                    ReplyCode.PRECONDITION_FAILED,
                    f"invalid type '{type_tag(args['alternate-exchange'])}' for arg "
                    f"'alternate-exchange' in {self._exchange_resource(name)}",
                )
            existing = Exchange(
                name,
                type_name,
                create_exchange_type(type_name),
                durable=durable,
                auto_delete=auto_delete,
                internal=internal,
                arguments=args,
            )
            self._add_exchange(existing)
            return existing
        resource = self._exchange_resource(name)
        if existing.type_name != type_name:
            raise AMQPError(
                ReplyCode.PRECONDITION_FAILED,
                f"inequivalent arg 'type' for {resource}: received '{type_name}' "
                f"but current is '{existing.type_name}'",
            )
        _check_flags(
            resource,
            ("durable", durable, existing.durable),
            ("auto_delete", auto_delete, existing.auto_delete),
            ("internal", internal, existing.internal),
        )
        _check_args(resource, ("alternate-exchange",), args, existing.arguments)
        return existing

    def delete_exchange(self, name: str, if_unused: bool = False) -> None:
        self._not_default(name)
        if name.startswith("amq."):
            raise AMQPError(
                ReplyCode.ACCESS_REFUSED,
                f"deletion of system {self._exchange_resource(name)} not allowed",
            )
        exchange = self.exchanges.get(name)
        if exchange is None:
            return
        if if_unused and exchange.table.has_bindings():
            raise AMQPError(
                ReplyCode.PRECONDITION_FAILED, f"{self._exchange_resource(name)} in use"
            )
        self._remove_exchange(exchange)

    def _remove_exchange(self, exchange: Exchange) -> None:
        del self.exchanges[exchange.name]
        self._drop_destination((EXCHANGE, exchange.name))

    def _drop_destination(self, destination: Destination) -> None:
        """Remove every binding that points at a deleted queue or exchange."""
        for source in list(self.exchanges.values()):
            if source.table.unbind_destination(destination):
                self._maybe_auto_delete_exchange(source)

    def _maybe_auto_delete_exchange(self, exchange: Exchange) -> None:
        if (
            exchange.auto_delete
            and not exchange.table.has_bindings()
            and self.exchanges.get(exchange.name) is exchange
        ):
            self._remove_exchange(exchange)

    # ---- queues ------------------------------------------------------------------------------

    def declare_queue(
        self,
        name: str,
        *,
        owner: object,
        server_named: bool = False,
        passive: bool = False,
        durable: bool = False,
        exclusive: bool = False,
        auto_delete: bool = False,
        arguments: Mapping[str, Any] | None = None,
        now: float = 0.0,
    ) -> Queue:
        """The queue declared (created, or the existing one after the equivalence checks);
        any declare counts as a use for x-expires."""
        if passive:
            queue = self.queue_or_404(name)
            self.check_exclusive_access(queue, owner)
            queue.touch(now)
            return queue
        args = dict(arguments or {})
        durable = durable and not exclusive  # RabbitMQ: an exclusive queue is never durable
        existing = self.queues.get(name) if name else None
        if existing is not None:
            # RabbitMQ compares owners, not flags: a declare without exclusive on an exclusive
            # queue (or with it on a shared one) is 405, even from the owning connection.
            if existing.exclusive_owner is not (owner if exclusive else None):
                raise self._locked_error(existing)
            resource = self._queue_resource(name)
            _check_flags(
                resource,
                ("durable", durable, existing.durable),
                ("auto_delete", auto_delete, existing.auto_delete),
            )
            _check_args(resource, EQUIVALENCE_ARGS, args, existing.arguments)
            existing.touch(now)
            return existing
        if not name:
            name = new_queue_name()
        elif name.startswith("amq.") and not server_named:  # the broker generated this name
            raise AMQPError(
                ReplyCode.ACCESS_REFUSED, f"queue name '{name}' contains reserved prefix 'amq.*'"
            )
        resource = self._queue_resource(name)
        options = parse_queue_arguments(args, resource)
        check_queue_type_properties(
            resource, args, durable=durable, exclusive=exclusive, auto_delete=auto_delete
        )
        queue = Queue(
            name,
            self.name,
            durable=durable,
            exclusive_owner=owner if exclusive else None,
            auto_delete=auto_delete,
            arguments=args,
            options=options,
            meter=self.meter,
            now=now,
        )
        self.queues[name] = queue
        return queue

    def check_exclusive_access(self, queue: Queue, owner: object) -> None:
        if queue.exclusive_owner is not None and queue.exclusive_owner is not owner:
            raise self._locked_error(queue)

    def _locked_error(self, queue: Queue) -> AMQPError:
        return AMQPError(
            ReplyCode.RESOURCE_LOCKED,
            f"cannot obtain exclusive access to locked {self._queue_resource(queue.name)}. "
            "It could be originally declared on another connection or the exclusive "
            "property value does not match that of the original declaration.",
        )

    def delete_queue(self, queue: Queue) -> int:
        """Remove the queue and its bindings; returns how many ready messages it dropped."""
        if self.queues.get(queue.name) is queue:
            del self.queues[queue.name]
        self._drop_destination((QUEUE, queue.name))
        return queue.delete()

    def queue_in_use_error(self, queue: Queue) -> AMQPError:
        return AMQPError(
            ReplyCode.PRECONDITION_FAILED, f"{self._queue_resource(queue.name)} in use"
        )

    def queue_not_empty_error(self, queue: Queue) -> AMQPError:
        return AMQPError(
            ReplyCode.PRECONDITION_FAILED, f"{self._queue_resource(queue.name)} not empty"
        )

    # ---- bindings ----------------------------------------------------------------------------

    def _binding_ends(self, source_name: str, destination: Destination, owner: object) -> Exchange:
        self._not_default(source_name)
        source = self.exchange_or_404(source_name)
        kind, name = destination
        if kind == QUEUE:
            self.check_exclusive_access(self.queue_or_404(name), owner)
        else:
            self._not_default(name)
            self.exchange_or_404(name)
        return source

    def bind(
        self,
        source_name: str,
        destination: Destination,
        routing_key: str,
        arguments: Mapping[str, Any] | None,
        owner: object,
    ) -> None:
        source = self._binding_ends(source_name, destination, owner)
        try:
            source.table.bind(destination, routing_key, arguments)
        except (InvalidBinding, TypeError) as exc:
            raise AMQPError(ReplyCode.PRECONDITION_FAILED, str(exc)) from exc

    def unbind(
        self,
        source_name: str,
        destination: Destination,
        routing_key: str,
        arguments: Mapping[str, Any] | None,
        owner: object,
    ) -> None:
        self._not_default(source_name)
        kind, name = destination
        if kind != QUEUE:
            self._not_default(name)
        source = self.exchanges.get(source_name)
        target = self.queues.get(name) if kind == QUEUE else self.exchanges.get(name)
        if source is None or target is None:
            return  # RabbitMQ 3.10 unbinds idempotently: a missing end is not an error
        if isinstance(target, Queue):
            self.check_exclusive_access(target, owner)
        try:
            removed = source.table.unbind(destination, routing_key, arguments)
        except TypeError:
            removed = False
        if removed:
            self._maybe_auto_delete_exchange(source)

    # ---- routing -----------------------------------------------------------------------------

    def route(
        self, exchange: Exchange, routing_key: str, headers: Mapping[str, object] | None
    ) -> list[Queue]:
        """Every queue the message reaches, each once, in a stable order."""
        reached: dict[str, Queue] = {}
        visited: set[str] = set()
        pending = [exchange]
        while pending:
            current = pending.pop()
            if current.name in visited:
                continue
            visited.add(current.name)
            if current.name == "":
                destinations: Iterable[Destination] = (
                    [(QUEUE, routing_key)] if routing_key in self.queues else []
                )
            else:
                destinations = current.table.route(routing_key, headers)
            found = False
            for kind, name in destinations:
                found = True
                if kind == QUEUE:
                    queue = self.queues.get(name)
                    if queue is not None:
                        reached.setdefault(name, queue)
                else:
                    target = self.exchanges.get(name)
                    if target is not None:
                        pending.append(target)
            if not found and current.alternate is not None:
                alternate = self.exchanges.get(current.alternate)
                if alternate is not None:
                    pending.append(alternate)
        return list(reached.values())


def _check_args(
    resource: str, keys: Iterable[str], received: Mapping[str, Any], current: Mapping[str, Any]
) -> None:
    for key in keys:
        if key not in received and key not in current:
            continue
        if key in received and key in current and _same_value(received[key], current[key]):
            continue
        new, old = _describe(received, key, current), _describe(current, key, received)
        raise AMQPError(
            ReplyCode.PRECONDITION_FAILED,
            f"inequivalent arg '{key}' for {resource}: received {new} but current is {old}",
        )
