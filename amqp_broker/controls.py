# What a test does to a running broker besides talking AMQP to it: look inside (inspection),
# put messages in (injection), wipe a vhost (reset), break connections (fault injection), and
# name conditions to wait for. Shared by the trio runner and the thread runner in testing.py.
#
# Rules kept here:
# - Every operation runs on the broker's thread through the runner's _read() or _change();
#   a change goes through BrokerServer.apply() so writers and waiters wake up at once.
# - Nothing here sleeps; waiting lives with the runners (async for trio, sync and asyncio for a
#   thread), which all use wait_description() and check_condition() from here.
from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from amqp_broker import injection, inspection
from amqp_broker.broker import ClientConnection
from amqp_broker.inspection import (
    BindingInfo,
    ChannelInfo,
    ConnectionInfo,
    ConsumerInfo,
    ExchangeInfo,
    MessageInfo,
    PublishedMessage,
    QueueInfo,
    VhostInfo,
)
from amqp_broker.server import BrokerServer

T = TypeVar("T")

DEFAULT_HISTORY_LIMIT = 1000


class WaitTimeoutError(TimeoutError):
    """A wait_for() condition did not hold in time; the message names the condition."""


@dataclass(frozen=True, slots=True)
class Condition:
    """A named check of broker state, for wait_for(); a missing queue or vhost counts as
    "not yet" rather than an error, so a test may wait for something still to be declared."""

    description: str
    check: Callable[[], object]

    def __call__(self) -> object:
        try:
            return self.check()
        except LookupError:
            return False


def wait_description(predicate: Callable[[], object], what: str | None) -> str:
    """How a timed-out wait names its condition: `what`, a Condition's description, or the
    predicate's source line."""
    if what is not None:
        return what
    if isinstance(predicate, Condition):
        return predicate.description
    try:
        return inspect.getsource(predicate).strip()
    except (OSError, TypeError):
        return repr(predicate)


def wait_timeout(
    predicate: Callable[[], object], what: str | None, timeout: float
) -> WaitTimeoutError:
    return WaitTimeoutError(
        f"timed out after {timeout} s waiting for {wait_description(predicate, what)}"
    )


ConnectionRef = int | ConnectionInfo


def _number(connection: ConnectionRef) -> int:
    return connection.number if isinstance(connection, ConnectionInfo) else connection


class BrokerControls:
    """Inspection, injection, reset and fault injection on a running broker (sync calls)."""

    def _read(self, fn: Callable[[BrokerServer], T]) -> T:
        """Run fn on the broker's thread; for reads."""
        raise NotImplementedError

    def _change(self, fn: Callable[[BrokerServer], T]) -> T:
        """Run fn on the broker's thread through BrokerServer.apply(); for changes."""
        raise NotImplementedError

    # ---- inspection (amqp_broker.inspection, run on the broker's thread) --------------------

    def vhosts(self) -> list[VhostInfo]:
        return self._read(lambda server: inspection.list_vhosts(server.broker))

    def exchanges(self, vhost: str = "/") -> list[ExchangeInfo]:
        return self._read(lambda server: inspection.list_exchanges(server.broker, vhost))

    def queues(self, vhost: str = "/") -> list[QueueInfo]:
        return self._read(lambda server: inspection.list_queues(server.broker, vhost))

    def queue(self, name: str, vhost: str = "/") -> QueueInfo:
        """Raises KeyError when the queue does not exist."""
        found = self._read(lambda server: inspection.get_queue(server.broker, vhost, name))
        if found is None:
            raise KeyError(f"no queue '{name}' in vhost '{vhost}'")
        return found

    def bindings(self, vhost: str = "/") -> list[BindingInfo]:
        return self._read(lambda server: inspection.list_bindings(server.broker, vhost))

    def connections(self, vhost: str | None = None) -> list[ConnectionInfo]:
        """Every client connection, or those opened on one vhost."""
        found = self._read(lambda server: inspection.list_connections(server.broker))
        return [view for view in found if vhost is None or view.vhost == vhost]

    def channels(self) -> list[ChannelInfo]:
        return self._read(lambda server: inspection.list_channels(server.broker))

    def consumers(self, vhost: str = "/") -> list[ConsumerInfo]:
        return self._read(lambda server: inspection.list_consumers(server.broker, vhost))

    def peek(self, queue: str, vhost: str = "/", limit: int | None = None) -> list[MessageInfo]:
        """The queue's ready messages in delivery order, left where they are."""
        return self._read(
            lambda server: inspection.peek_messages(server.broker, vhost, queue, limit)
        )

    def record_publishes(
        self, exchange: str, vhost: str = "/", limit: int = DEFAULT_HISTORY_LIMIT
    ) -> None:
        """Keep the last `limit` messages published to this exchange ("" is the default one)
        from now on, for published()."""
        self._change(lambda server: server.broker.history.watch(vhost, exchange, limit))

    def published(self, exchange: str, vhost: str = "/") -> list[PublishedMessage]:
        """Messages published to the exchange since record_publishes(), oldest first, with the
        queues each reached. Raises KeyError when the exchange is not recorded."""
        return self._read(
            lambda server: inspection.published_messages(server.broker, vhost, exchange)
        )

    # ---- injection -----------------------------------------------------------------------

    def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        properties: Mapping[str, Any] | None = None,
        vhost: str = "/",
    ) -> list[str]:
        """Publish as a client would; returns the queues reached. Raises AMQPError (404, 403,
        406) where a client's publish would get that channel error."""
        return self._change(
            lambda server: injection.publish(
                server.broker, vhost, exchange, routing_key, body, properties=properties
            )
        )

    def publish_to_queue(
        self,
        queue: str,
        body: bytes,
        *,
        properties: Mapping[str, Any] | None = None,
        vhost: str = "/",
    ) -> None:
        """Put a message into a queue through the default exchange. Raises AMQPError 404 when
        the queue does not exist."""
        self._change(
            lambda server: injection.publish_to_queue(
                server.broker, vhost, queue, body, properties=properties
            )
        )

    # ---- isolation -----------------------------------------------------------------------

    def add_vhost(self, name: str) -> None:
        self._change(lambda server: server.broker.add_vhost(name))

    def delete_vhost(self, name: str) -> None:
        """Delete a vhost and everything in it; its clients get 320 CONNECTION_FORCED."""
        self._change(lambda server: server.broker.delete_vhost(name))

    def reset(self, vhost: str = "/") -> None:
        """Delete every queue, declared exchange and binding of the vhost (and its publish
        history); the predeclared amq.* exchanges stay. Connections stay open; consumers of
        the deleted queues get basic.cancel, as on queue.delete. Raises KeyError."""
        self._change(lambda server: server.broker.reset_vhost(vhost))

    # ---- fault injection -----------------------------------------------------------------

    def _connection(self, server: BrokerServer, connection: ConnectionRef) -> ClientConnection:
        number = _number(connection)
        found = server.broker.connections.get(number)
        if found is None:
            raise KeyError(f"no connection {number}")
        return found

    def close_connection(
        self, connection: ConnectionRef, reason: str = "Closed via management plugin"
    ) -> None:
        """Connection.Close 320 CONNECTION_FORCED, as `rabbitmqctl close_connection` sends.
        Raises KeyError for a connection that is not open."""
        self._change(
            lambda server: server.broker.force_close(self._connection(server, connection), reason)
        )

    def close_all_connections(self, reason: str = "Closed via management plugin") -> None:
        self._change(lambda server: server.broker.close_all(reason))

    def drop_connection(self, connection: ConnectionRef) -> None:
        """Reset the TCP connection without an AMQP close (SO_LINGER 0, then close)."""
        self._change(lambda server: server.drop_connection(self._connection(server, connection)))

    def drop_all_connections(self) -> None:
        def drop_all(server: BrokerServer) -> None:
            for conn in server.broker.iter_connections():
                server.drop_connection(conn)

        self._change(drop_all)

    def freeze_connection(self, connection: ConnectionRef) -> None:
        """Stop answering the connection, as a hung broker would: its input is held unread,
        nothing is sent to it (heartbeats included) and the broker's heartbeat timeout is
        suspended, so the client's heartbeat timeout fires. thaw_connection() resumes it."""
        self._change(lambda server: server.freeze(self._connection(server, connection)))

    def thaw_connection(self, connection: ConnectionRef) -> None:
        self._change(lambda server: server.freeze(self._connection(server, connection), False))

    def block_publishers(self) -> None:
        """Raise a resource alarm: publishing connections get connection.blocked and are no
        longer read until unblock_publishers()."""
        self._change(lambda server: server.broker.set_alarm(True))

    def unblock_publishers(self) -> None:
        self._change(lambda server: server.broker.set_alarm(False))

    # ---- conditions for wait_for ---------------------------------------------------------

    def queue_has(
        self,
        queue: str,
        *,
        ready: int | None = None,
        unacked: int | None = None,
        vhost: str = "/",
    ) -> Condition:
        """The queue holds at least `ready` ready and at least `unacked` unacked messages."""
        wanted = [
            f"{count} {kind}"
            for count, kind in ((ready, "ready"), (unacked, "unacked"))
            if count is not None
        ]

        def check() -> bool:
            info = self.queue(queue, vhost)
            return (ready is None or info.messages_ready >= ready) and (
                unacked is None or info.messages_unacknowledged >= unacked
            )

        return Condition(
            f"queue '{queue}' in vhost '{vhost}' to have {' and '.join(wanted) or 'messages'}",
            check,
        )

    def queue_empty(self, queue: str, vhost: str = "/") -> Condition:
        """No message ready or unacked: everything was consumed and settled."""
        return Condition(
            f"queue '{queue}' in vhost '{vhost}' to be empty (nothing ready or unacked)",
            lambda: self.queue(queue, vhost).messages == 0,
        )

    def consumer_on(self, queue: str, count: int = 1, vhost: str = "/") -> Condition:
        return Condition(
            f"{count} consumer(s) on queue '{queue}' in vhost '{vhost}'",
            lambda: self.queue(queue, vhost).consumers >= count,
        )

    def acked(self, queue: str, count: int = 1, vhost: str = "/") -> Condition:
        """At least `count` messages from the queue were acknowledged since it was declared."""
        return Condition(
            f"{count} ack(s) on queue '{queue}' in vhost '{vhost}'",
            lambda: self.queue(queue, vhost).message_stats["ack"] >= count,
        )

    def connected(self, count: int = 1, vhost: str | None = None) -> Condition:
        """At least `count` connections are open (handshake done), on `vhost` if given."""
        where = f" on vhost '{vhost}'" if vhost is not None else ""
        return Condition(
            f"{count} open connection(s){where}",
            lambda: sum(view.state == "running" for view in self.connections(vhost)) >= count,
        )
