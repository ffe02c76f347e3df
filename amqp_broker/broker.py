# The synchronous application layer: protocol events in, broker state changed, output queued.
#
# Rules kept here:
# - Nothing here awaits. Each event is applied to completion, so every AMQP command is atomic with
#   respect to every other connection.
# - Output for any connection (deliveries to other consumers too) goes into that connection's
#   protocol buffer; the connection is then marked dirty so the server wakes its writer.
# - An AMQPError raised while handling a method is blamed on that method and handed to the
#   protocol connection's fail(), the one place that turns errors into Close methods.
from __future__ import annotations

import base64
import itertools
import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from pamqp import commands
from pamqp.base import Frame as Method

from amqp_broker.auth import Access, Resource, UserStore
from amqp_broker.config import BrokerConfig
from amqp_broker.core.channel import ChannelState, Consumer, Delivery
from amqp_broker.core.deadletter import dead_letter_copy, is_cycle
from amqp_broker.core.direct_reply import PSEUDO_QUEUE, ReplyRegistry, is_reply_name
from amqp_broker.core.expiry import DeadlineSchedule, parse_expiration
from amqp_broker.core.history import PublishHistory
from amqp_broker.core.message import Message, QueuedMessage
from amqp_broker.core.queue import MemoryMeter, Queue, Removal
from amqp_broker.core.queue_arguments import Overflow, check_server_named, consumer_priority
from amqp_broker.core.raw_properties import replace_property, shortstr
from amqp_broker.core.sender_routes import take_sender_routes
from amqp_broker.core.vhost import EXCHANGE, QUEUE, Exchange, VirtualHost, new_queue_name
from amqp_broker.errors import AMQPError, ReplyCode
from amqp_broker.protocol.codec import make_method
from amqp_broker.protocol.connection import AMQPConnection, ConnectionSettings
from amqp_broker.protocol.events import (
    ChannelClosed,
    ChannelOpened,
    ConnectionClosed,
    ConnectionOpened,
    ContentReceived,
    Event,
    MethodReceived,
)
from amqp_broker.protocol.fastcodec import encode_delivery
from amqp_broker.protocol.fieldscan import TableLimits
from amqp_broker.store import DurableStore, open_store
from amqp_broker.store.definitions import is_durable_queue
from amqp_broker.store.directory import DataDirectory, check_fsync
from amqp_broker.version import __version__

Basic = commands.Basic


class ClientConnection:
    """The broker's record of one client connection."""

    def __init__(self, number: int, protocol: AMQPConnection, peer: str) -> None:
        self.number = number
        self.protocol = protocol
        self.peer = peer
        self.channels: dict[int, ChannelState] = {}
        self.vhost: VirtualHost | None = None
        self.username = ""
        self.cancel_notify = False
        self.confirms_due: set[ChannelState] = set()
        self.blocked_notify = False  # the client understands connection.blocked
        self.publisher = False  # it has published: memory alarms stop reading it
        self.read_paused = False
        # Fault injection: the server neither reads from nor writes to a frozen connection, so
        # no heartbeats reach the client and its heartbeat timeout fires.
        self.frozen = False
        self.gone = False

    def __repr__(self) -> str:
        return f"<ClientConnection {self.number} {self.peer}>"


class Broker:
    def __init__(
        self,
        config: BrokerConfig | None = None,
        *,
        wall_clock: Callable[[], float] = time.time,
        data_directory: DataDirectory | None = None,
    ) -> None:
        """`data_directory`: config.data_dir already opened and locked (the CLI locks it before
        it listens), handed over so the lock is never let go in between."""
        self.config = config or BrokerConfig()
        # The time of the event being applied, on the caller's (monotonic) clock: every entry
        # point that takes `now` sets it, so TTLs and x-expires never read a clock themselves.
        self.now = 0.0
        self.wall_clock = wall_clock  # POSIX seconds, only for x-death's `time`
        self.deadlines: DeadlineSchedule[Queue] = DeadlineSchedule()
        self.settings = ConnectionSettings(
            channel_max=self.config.channel_max,
            frame_max=self.config.frame_max,
            heartbeat=self.config.heartbeat,
            product=self.config.product_name,
            version=self.config.product_version,
            information=f"trio-amqp-broker {__version__}, an AMQP 0-9-1 broker on trio. "
            "Licensed under the MIT License.",
            max_message_size=self.config.max_message_size,
            table_limits=TableLimits(
                self.config.max_table_depth, self.config.max_table_decode_cost
            ),
        )
        self.meter = MemoryMeter()
        self.history = PublishHistory()  # opt-in, per exchange: what was published there
        self.publishers_blocked = False
        self.alarm_forced = False  # set_alarm(): block publishers whatever the memory use
        self.vhosts: dict[str, VirtualHost] = {
            name: VirtualHost(name, self.meter) for name in self.config.vhosts
        }
        self.users = _load_users(self.config)
        for name in self.config.vhosts:
            self._grant_default_user(name)
        # The durable store (docs/durability.md); None keeps everything in memory.
        self.store: DurableStore | None = None
        if self.config.data_dir is not None:
            check_fsync(self.config.fsync)
            self.store = open_store(
                data_directory or self.config.data_dir,
                fsync=self.config.fsync == "always",
                vhosts=self.vhosts,
                add_vhost=self.add_vhost,
            )
        # Confirm-mode channels with persistent publishes waiting for the store's fsync.
        self._awaiting_durable: dict[ChannelState, ClientConnection] = {}
        # Totals since start for /metrics and the management API: plain ints, cheap to bump.
        self.messages_published = 0
        self.messages_delivered = 0
        self.messages_acknowledged = 0
        self.connections: dict[int, ClientConnection] = {}
        self._numbers = itertools.count(1)
        self._dirty: set[ClientConnection] = set()
        self.replies = ReplyRegistry()
        self._handlers: dict[
            type[Method], Callable[[ClientConnection, ChannelState, Any], None]
        ] = {
            commands.Exchange.Declare: self._exchange_declare,
            commands.Exchange.Delete: self._exchange_delete,
            commands.Exchange.Bind: self._exchange_bind,
            commands.Exchange.Unbind: self._exchange_unbind,
            commands.Queue.Declare: self._queue_declare,
            commands.Queue.Bind: self._queue_bind,
            commands.Queue.Unbind: self._queue_unbind,
            commands.Queue.Purge: self._queue_purge,
            commands.Queue.Delete: self._queue_delete,
            Basic.Qos: self._basic_qos,
            Basic.Consume: self._basic_consume,
            Basic.Cancel: self._basic_cancel,
            Basic.Get: self._basic_get,
            Basic.Ack: self._basic_ack,
            Basic.Reject: self._basic_reject,
            Basic.Nack: self._basic_nack,
            Basic.Recover: self._basic_recover,
            Basic.RecoverAsync: self._basic_recover,
            commands.Confirm.Select: self._confirm_select,
            commands.Tx.Select: self._tx_select,
            commands.Tx.Commit: self._tx_commit,
            commands.Tx.Rollback: self._tx_rollback,
        }

    # ---- the user store (the protocol's Authenticator) --------------------------------------

    def authenticate(self, username: str, password: str, peer_is_loopback: bool) -> bool:
        return self.users.authenticate(username, password, peer_is_loopback)

    def authenticate_external(self, username: str, peer_is_loopback: bool) -> bool:
        return self.users.authenticate_external(username, peer_is_loopback)

    def secret_update_allowed(self, username: str, secret: str) -> bool:
        """As RabbitMQ's internal user database answers it: its passwords cannot expire, so a
        new secret replaces nothing and is not compared (RabbitMQ 3.10.8 accepts any, and
        pika's own tests send an arbitrary one on a guest connection). A user who has left the
        store since logging in is refused."""
        return self.users.user(username) is not None

    def check_vhost_access(self, username: str, vhost: str) -> None:
        """RabbitMQ's checks at connection.open, in its order; each refusal is 530."""
        if vhost not in self.vhosts:
            raise AMQPError(ReplyCode.NOT_ALLOWED, f"vhost {vhost} not found")
        limit = self.config.max_connections_per_user
        if limit and self._open_connections_of(username) >= limit:
            raise AMQPError(
                ReplyCode.NOT_ALLOWED,
                f"connection refused for user '{username}': "
                f"user connection limit ({limit}) is reached",
            )
        if not self.users.may_open(username, vhost):
            raise AMQPError(
                ReplyCode.NOT_ALLOWED, f"access to vhost '{vhost}' refused for user '{username}'"
            )

    def _open_connections_of(self, username: str) -> int:
        return sum(
            1
            for conn in self.connections.values()
            if conn.vhost is not None and conn.username == username and not conn.gone
        )

    def add_vhost(self, name: str) -> VirtualHost:
        """Create a vhost (or return the existing one); config.default_user gets full access."""
        vhost = self.vhosts.get(name)
        if vhost is None:
            vhost = self.vhosts[name] = VirtualHost(name, self.meter)
            self._grant_default_user(name)
            self._durable_change(vhost)
        return vhost

    def _grant_default_user(self, vhost: str) -> None:
        user = self.config.default_user
        if user is not None and self.users.user(user) and not self.users.may_open(user, vhost):
            self.users.set_permissions(user, vhost)

    def delete_vhost(self, name: str) -> None:
        vhost = self.vhosts.pop(name, None)
        if vhost is None:
            return
        self.users.clear_vhost(name)
        if self.store is not None:
            self.store.vhost_deleted(vhost)
        for conn in list(self.connections.values()):
            if conn.vhost is vhost:
                self.force_close(conn, f"vhost '{name}' is deleted")
        self._delete_queues(vhost)  # their messages no longer count against the memory alarm
        self.history.forget_vhost(name)

    def reset_vhost(self, name: str) -> None:
        """Delete every queue (consumers get basic.cancel, as for queue.delete), every declared
        exchange and every binding; the predeclared exchanges stay. Connections stay open.

        Raises KeyError for an unknown vhost.
        """
        vhost = self.vhosts[name]
        self._delete_queues(vhost)
        vhost.clear_exchanges()
        self._durable_change(vhost)
        self.history.forget_vhost(name)

    def _delete_queues(self, vhost: VirtualHost) -> None:
        for queue in list(vhost.queues.values()):
            self._delete_queue(vhost, queue)

    # ---- connection lifecycle ----------------------------------------------------------------

    def new_connection(self, peer: str, peer_is_loopback: bool, now: float) -> ClientConnection:
        self.now = now
        protocol = AMQPConnection(self, self.settings, peer_is_loopback=peer_is_loopback, now=now)
        conn = ClientConnection(next(self._numbers), protocol, peer)
        self.connections[conn.number] = conn
        return conn

    def receive(
        self, conn: ClientConnection, data: bytes, now: float, limit: int | None = None
    ) -> bool:
        """Bytes from the socket (b"" at EOF): apply every event they complete, or at most
        `limit` of them; True when some may remain for resume()."""
        self.now = now
        conn.protocol.receive_data(data, now)
        return self.process(conn, limit)

    def resume(self, conn: ClientConnection, now: float, limit: int | None = None) -> bool:
        """Apply more of the events that input already received completes (see receive)."""
        self.now = now
        return self.process(conn, limit)

    def process(self, conn: ClientConnection, limit: int | None = None) -> bool:
        more = False
        applied = 0
        while (event := conn.protocol.next_event()) is not None:
            self._on_event(conn, event)
            applied += 1
            if applied == limit:
                more = True
                break
        for channel in list(conn.confirms_due):
            self._send_confirms(conn, channel)
        self._dirty.add(conn)
        self.check_memory()
        return more

    def check_memory(self) -> None:
        """RabbitMQ's memory alarm: above the high watermark, publishing connections are told
        (connection.blocked) and no longer read, so TCP back-pressure stops the publishers;
        consumers keep draining. Below it again, they are unblocked."""
        alarm = self.alarm_forced or self.meter.used > self.config.memory_high_watermark
        if not self.publishers_blocked and alarm:
            self.publishers_blocked = True
            for conn in self.connections.values():
                if conn.publisher:
                    self._pause_publisher(conn)
        elif self.publishers_blocked and not alarm:
            self.publishers_blocked = False
            for conn in self.connections.values():
                if conn.read_paused:
                    conn.read_paused = False
                    if conn.blocked_notify and conn.protocol.is_open:
                        self._send(conn, 0, commands.Connection.Unblocked())
                    self._dirty.add(conn)

    def set_alarm(self, on: bool) -> None:
        """Raise or clear a resource alarm by hand, as if memory had crossed the watermark."""
        self.alarm_forced = on
        self.check_memory()

    def _pause_publisher(self, conn: ClientConnection) -> None:
        if conn.read_paused or not conn.protocol.is_open:
            return
        conn.read_paused = True
        if conn.blocked_notify:
            self._send(conn, 0, commands.Connection.Blocked(reason="low on memory"))

    def _send_confirms(self, conn: ClientConnection, channel: ChannelState) -> None:
        conn.confirms_due.discard(channel)
        # basic.ack covers a prefix: nothing after a publish still waiting for the disk.
        waits = channel.durable_waits
        confirms = channel.take_confirms(waits[0][0] - 1 if waits else None)
        if not conn.protocol.channel_is_open(channel.number):
            return
        for is_ack, tag, multiple in confirms:
            method: Method = (
                Basic.Ack(delivery_tag=tag, multiple=multiple)
                if is_ack
                else Basic.Nack(delivery_tag=tag, multiple=multiple, requeue=False)
            )
            self._send(conn, channel.number, method)

    def store_durable(self, op: int) -> None:
        """The store made every change up to operation `op` durable: send the confirms that
        were waiting for it."""
        for channel, conn in list(self._awaiting_durable.items()):
            waits = channel.durable_waits
            while waits and waits[0][1] <= op:
                waits.popleft()
            if not waits:
                del self._awaiting_durable[channel]
            if conn.channels.get(channel.number) is channel:
                self._send_confirms(conn, channel)

    def start(self, now: float) -> None:
        """Serving starts at `now` on the caller's clock. Queues and messages recovered from the
        store were created at time 0: their TTLs and x-expires count from now instead."""
        offset, self.now = now - self.now, now
        for vhost in self.vhosts.values():
            for queue in vhost.queues.values():
                queue.shift_clock(offset)
                self.deadlines.set(queue, queue.next_deadline())

    def _durable_change(self, vhost: VirtualHost) -> None:
        """A definition in `vhost` changed: the store rewrites its durable definitions."""
        if self.store is not None and self.vhosts.get(vhost.name) is vhost:
            self.store.definitions_changed(vhost)

    def close(self) -> None:
        """Write what the store still buffers and release the data directory."""
        if self.store is not None:
            self.store.flush()
            self.store.close()
            self.store = None

    def tick(self, conn: ClientConnection, now: float) -> float | None:
        self.now = now
        deadline = conn.protocol.tick(now, self.config.handshake_timeout)
        self.process(conn)
        return deadline

    def force_close(self, conn: ClientConnection, detail: str) -> None:
        """320 CONNECTION_FORCED, as a server shutdown or an operator would close it."""
        conn.protocol.close(ReplyCode.CONNECTION_FORCED, detail)
        self.process(conn)

    def connection_lost(self, conn: ClientConnection) -> None:
        """The socket is gone, whatever the protocol state: release everything it held."""
        if not conn.gone:
            self._release_connection(conn)

    def output_drained(self, conn: ClientConnection) -> None:
        """The writer flushed this connection: deliveries held back for it may resume."""
        self.check_memory()
        queues: dict[int, Queue] = {}
        for channel in conn.channels.values():
            for consumer in channel.consumers.values():
                queues[id(consumer.queue)] = consumer.queue
        for queue in queues.values():
            self._dispatch(queue)

    # ---- queue timers (message TTL, x-expires) -----------------------------------------------

    def next_deadline(self) -> float | None:
        """The earliest moment some queue needs run_timers (None: no timer is pending)."""
        return self.deadlines.next_deadline()

    def run_timers(self, now: float) -> None:
        """Expire messages and unused queues whose deadline has come."""
        self.now = now
        for queue in self.deadlines.pop_due(now):
            vhost = self.vhosts.get(queue.vhost)
            if queue.deleted or vhost is None or vhost.queues.get(queue.name) is not queue:
                continue  # gone meanwhile: it stays off the schedule
            unused = queue.unused_deadline()
            if unused is not None and now >= unused:
                self._delete_queue(vhost, queue)
                continue
            self._dispatch(queue)
        self.check_memory()

    def take_dirty(self) -> set[ClientConnection]:
        dirty, self._dirty = self._dirty, set()
        return dirty

    # ---- events ------------------------------------------------------------------------------

    def _on_event(self, conn: ClientConnection, event: Event) -> None:
        if type(event) is ContentReceived:  # nearly every event: a publish, without _guarded
            channel = conn.channels.get(event.channel)
            if channel is not None:
                try:
                    self._publish(conn, channel, event)
                except AMQPError as error:
                    self._method_failed(conn, channel, event.method, error)
        elif isinstance(event, MethodReceived):
            channel = conn.channels.get(event.channel)
            if channel is not None:
                handler = self._handlers.get(type(event.method))
                if handler is None:
                    self._guarded(conn, channel, event.method, self._unimplemented, event.method)
                else:
                    self._guarded(conn, channel, event.method, handler, event.method)
        elif isinstance(event, ChannelOpened):
            conn.channels[event.channel] = ChannelState(event.channel, conn)
        elif isinstance(event, ChannelClosed):
            channel = conn.channels.pop(event.channel, None)
            if channel is not None:
                self._release_channel(conn, channel)
        elif isinstance(event, ConnectionOpened):
            conn.vhost = self.vhosts[event.vhost]
            conn.username = event.username
            capabilities = event.client_properties.get("capabilities")
            conn.cancel_notify = isinstance(capabilities, dict) and bool(
                capabilities.get("consumer_cancel_notify")
            )
            conn.blocked_notify = isinstance(capabilities, dict) and bool(
                capabilities.get("connection.blocked")
            )
        elif isinstance(event, ConnectionClosed):
            self._release_connection(conn)

    def _guarded(
        self,
        conn: ClientConnection,
        channel: ChannelState,
        method: Method,
        handler: Callable[[ClientConnection, ChannelState, Any], None],
        argument: Any,
    ) -> None:
        try:
            handler(conn, channel, argument)
        except AMQPError as error:
            self._method_failed(conn, channel, method, error)

    def _method_failed(
        self, conn: ClientConnection, channel: ChannelState, method: Method, error: AMQPError
    ) -> None:
        error.for_method(method.index >> 16, method.index & 0xFFFF)
        if channel in conn.confirms_due:
            self._send_confirms(conn, channel)  # earlier publishes were accepted
        conn.protocol.fail(channel.number, error)
        self._dirty.add(conn)

    def _send(self, conn: ClientConnection, channel: int, method: Method) -> None:
        conn.protocol.send_method(channel, method)
        self._dirty.add(conn)

    def _authorize(
        self, conn: ClientConnection, access: Access, resource: Resource, name: str
    ) -> None:
        """RabbitMQ's check_resource_access: 403 ACCESS_REFUSED unless the user's regex for
        `access` in this vhost matches the resource name. Called first in every handler that
        touches a named queue or exchange, before the resource is looked up."""
        self.users.check(conn.username, self._vhost(conn).name, access, resource, name)

    def _authorize_binding(
        self, conn: ClientConnection, source: str, kind: Resource, destination: str
    ) -> None:
        """Binding and unbinding need write on the destination, then read on the source; a
        binding that involves the default exchange is refused for that in between (the vhost
        raises it), as RabbitMQ orders the checks."""
        self._authorize(conn, Access.WRITE, kind, destination)
        if source and not (kind is Resource.EXCHANGE and not destination):
            self._authorize(conn, Access.READ, Resource.EXCHANGE, source)

    def _check_declare(
        self, conn: ClientConnection, kind: Resource, name: str, arguments: Any
    ) -> None:
        """What a declare must pass before the vhost sees it, in RabbitMQ's order: configure
        permission; then, for a new queue or exchange, the vhost's count limit, and read on
        itself plus write on the alternate or dead-letter exchange it names."""
        self._authorize(conn, Access.CONFIGURE, kind, name)
        vhost = self._vhost(conn)
        existing: Mapping[str, object]
        if kind is Resource.EXCHANGE:
            existing, limit = vhost.exchanges, self.config.max_exchanges_per_vhost
            key = "alternate-exchange"
        else:
            existing, limit = vhost.queues, self.config.max_queues_per_vhost
            key = "x-dead-letter-exchange"
        if name in existing:
            return
        if limit and len(existing) >= limit:
            raise AMQPError(
                ReplyCode.PRECONDITION_FAILED,
                f"cannot declare {kind.value} '{name}': {kind.value} limit in vhost "
                f"'{vhost.name}' ({limit}) is reached",
            )
        target = (arguments or {}).get(key)
        if isinstance(target, str | bytes):
            if isinstance(target, bytes):
                target = target.decode("utf-8", "replace")
            self._authorize(conn, Access.READ, kind, name)
            self._authorize(conn, Access.WRITE, Resource.EXCHANGE, target)

    def _unimplemented(self, conn: ClientConnection, channel: ChannelState, method: Method) -> None:
        raise AMQPError(ReplyCode.COMMAND_INVALID, f"unimplemented method {method.name}")

    # ---- releasing -------------------------------------------------------------------------

    def _release_channel(self, conn: ClientConnection, channel: ChannelState) -> None:
        self.replies.cancel(channel)  # replies to it are dropped from now on
        touched: dict[int, Queue] = {}
        for consumer in list(channel.consumers.values()):
            self._remove_consumer(conn, consumer, dispatch=False)
            touched[id(consumer.queue)] = consumer.queue
        channel.rollback_settlements()  # uncommitted acks are void: those messages go back
        channel.durable_waits.clear()
        self._awaiting_durable.pop(channel, None)
        touched.update(self._return_or_drop(channel.take_all_unacked(), requeue=True))
        channel.consumers.clear()
        for queue in touched.values():
            self._dispatch(queue)

    def _release_connection(self, conn: ClientConnection) -> None:
        if conn.gone:
            return
        conn.gone = True
        for channel in list(conn.channels.values()):
            self._release_channel(conn, channel)
        conn.channels.clear()
        if conn.vhost is not None:
            for queue in list(conn.vhost.queues.values()):
                if queue.exclusive_owner is conn:
                    self._delete_queue(conn.vhost, queue)
        self.connections.pop(conn.number, None)

    def _remove_consumer(
        self, conn: ClientConnection, consumer: Consumer, *, dispatch: bool = True
    ) -> None:
        consumer.channel.consumers.pop(consumer.tag, None)
        queue = consumer.queue
        queue.remove_consumer(consumer)
        queue.touch(self.now)
        if queue.deleted:
            return
        owner = consumer.channel.owner
        if (
            queue.auto_delete
            and not queue.consumers
            and isinstance(owner, ClientConnection)
            and owner.vhost is not None
        ):
            self._delete_queue(owner.vhost, queue)
        elif dispatch:
            self._dispatch(queue)  # the next consumer (single active, lower priority) takes over

    def _delete_queue(self, vhost: VirtualHost, queue: Queue) -> int:
        """Delete the queue, telling its consumers; returns the ready messages dropped."""
        count, consumers = self._remove_queue(vhost, queue)
        self._notify_cancelled(consumers)
        return count

    def _remove_queue(self, vhost: VirtualHost, queue: Queue) -> tuple[int, list[Consumer]]:
        """Delete the queue; returns the ready messages dropped and the consumers it had, for
        the caller to tell (basic.cancel) once it has sent its own reply."""
        consumers = list(queue.consumers)
        if self.store is not None:
            self.store.queue_deleted(queue)  # before its messages are dropped one by one
        count = vhost.delete_queue(queue)
        self._durable_change(vhost)
        self.deadlines.set(queue, None)
        for consumer in consumers:
            consumer.channel.consumers.pop(consumer.tag, None)
        return count, consumers

    def _notify_cancelled(self, consumers: list[Consumer]) -> None:
        for consumer in consumers:
            owner = consumer.channel.owner
            if (
                isinstance(owner, ClientConnection)
                and owner.cancel_notify
                and owner.protocol.channel_is_open(consumer.channel.number)
            ):
                self._send(
                    owner,
                    consumer.channel.number,
                    Basic.Cancel(consumer_tag=consumer.tag, nowait=True),
                )

    # ---- exchanges ---------------------------------------------------------------------------

    @staticmethod
    def _vhost(conn: ClientConnection) -> VirtualHost:
        assert conn.vhost is not None, "methods arrive only after connection.open"
        return conn.vhost

    def _exchange_declare(
        self, conn: ClientConnection, channel: ChannelState, method: commands.Exchange.Declare
    ) -> None:
        if not method.passive:
            self._check_declare(conn, Resource.EXCHANGE, method.exchange, method.arguments)
        vhost = self._vhost(conn)
        vhost.declare_exchange(
            method.exchange,
            method.exchange_type,
            passive=method.passive,
            durable=method.durable,
            auto_delete=method.auto_delete,
            internal=method.internal,
            arguments=method.arguments,
        )
        if method.durable and not method.passive:
            self._durable_change(vhost)
        if not method.nowait:
            self._send(conn, channel.number, commands.Exchange.DeclareOk())

    def _exchange_delete(
        self, conn: ClientConnection, channel: ChannelState, method: commands.Exchange.Delete
    ) -> None:
        self._authorize(conn, Access.CONFIGURE, Resource.EXCHANGE, method.exchange)
        self._vhost(conn).delete_exchange(method.exchange, method.if_unused)
        self._durable_change(self._vhost(conn))
        if not method.nowait:
            self._send(conn, channel.number, commands.Exchange.DeleteOk())

    def _exchange_bind(
        self, conn: ClientConnection, channel: ChannelState, method: commands.Exchange.Bind
    ) -> None:
        self._exchange_binding(conn, channel, method, commands.Exchange.BindOk())

    def _exchange_unbind(
        self, conn: ClientConnection, channel: ChannelState, method: commands.Exchange.Unbind
    ) -> None:
        self._exchange_binding(conn, channel, method, commands.Exchange.UnbindOk())

    def _exchange_binding(
        self,
        conn: ClientConnection,
        channel: ChannelState,
        method: commands.Exchange.Bind | commands.Exchange.Unbind,
        reply: Method,
    ) -> None:
        """exchange.bind and exchange.unbind differ only in the vhost call and the reply."""
        self._authorize_binding(conn, method.source, Resource.EXCHANGE, method.destination)
        vhost = self._vhost(conn)
        change = vhost.bind if isinstance(method, commands.Exchange.Bind) else vhost.unbind
        change(
            method.source,
            (EXCHANGE, method.destination),
            method.routing_key,
            method.arguments,
            conn,
        )
        self._durable_change(vhost)
        if not method.nowait:
            self._send(conn, channel.number, reply)

    # ---- queues ------------------------------------------------------------------------------

    def _queue_declare(
        self, conn: ClientConnection, channel: ChannelState, method: commands.Queue.Declare
    ) -> None:
        if method.queue.startswith(PSEUDO_QUEUE):
            self._declare_reply_queue(conn, channel, method)
            return
        name = method.queue
        if not method.passive:
            if not name:
                check_server_named(method.arguments or {})
            # RabbitMQ checks configure on the generated name of a server-named queue too.
            name = name or new_queue_name()
            self._check_declare(conn, Resource.QUEUE, name, method.arguments)
        vhost = self._vhost(conn)
        queue = vhost.declare_queue(
            name,
            server_named=not method.queue,
            owner=conn,
            passive=method.passive,
            durable=method.durable,
            exclusive=method.exclusive,
            auto_delete=method.auto_delete,
            arguments=method.arguments,
            now=self.now,
        )
        self._queue_declared(vhost, queue)
        if not method.nowait:
            declare_ok = make_method(
                commands.Queue.DeclareOk,
                queue=queue.name,
                message_count=queue.ready_count,
                consumer_count=len(queue.consumers),
            )
            self._send(conn, channel.number, declare_ok)
        channel.last_declared_queue = queue.name

    def _queue_declared(self, vhost: VirtualHost, queue: Queue) -> None:
        if self.store is not None and queue.journal is None and is_durable_queue(queue):
            self.store.attach(queue)
            self._durable_change(vhost)
        self._dispatch(queue)  # expired heads go, and x-expires counts from this declare

    def _declare_reply_queue(
        self, conn: ClientConnection, channel: ChannelState, method: commands.Queue.Declare
    ) -> None:
        """RabbitMQ treats every declare of these names as passive: the pseudo-queue itself
        exists, and a reply name exists while its consumer does (a responder may check that its
        requester is still there); each has one consumer and no messages."""
        name = method.queue
        if name != PSEUDO_QUEUE and self.replies.find(name) is None:
            self._vhost(conn).queue_or_404(name)  # raises: no queue can have this name
        if not method.nowait:
            declare_ok = make_method(
                commands.Queue.DeclareOk, queue=name, message_count=0, consumer_count=1
            )
            self._send(conn, channel.number, declare_ok)

    def _queue_bind(
        self, conn: ClientConnection, channel: ChannelState, method: commands.Queue.Bind
    ) -> None:
        _expand_queue_shortcut(channel, method)
        self._authorize_binding(conn, method.exchange, Resource.QUEUE, method.queue)
        vhost = self._vhost(conn)
        vhost.bind(
            method.exchange, (QUEUE, method.queue), method.routing_key, method.arguments, conn
        )
        self._durable_change(vhost)
        if not method.nowait:
            self._send(conn, channel.number, commands.Queue.BindOk())

    def _queue_unbind(
        self, conn: ClientConnection, channel: ChannelState, method: commands.Queue.Unbind
    ) -> None:
        _expand_queue_shortcut(channel, method)
        self._authorize_binding(conn, method.exchange, Resource.QUEUE, method.queue)
        vhost = self._vhost(conn)
        vhost.unbind(
            method.exchange, (QUEUE, method.queue), method.routing_key, method.arguments, conn
        )
        self._durable_change(vhost)
        self._send(conn, channel.number, commands.Queue.UnbindOk())

    def _queue_purge(
        self, conn: ClientConnection, channel: ChannelState, method: commands.Queue.Purge
    ) -> None:
        _expand_queue_shortcut(channel, method)
        self._authorize(conn, Access.READ, Resource.QUEUE, method.queue)
        vhost = self._vhost(conn)
        queue = vhost.queue_or_404(method.queue)
        vhost.check_exclusive_access(queue, conn)
        count = self.purge_queue(queue)
        if not method.nowait:
            self._send(conn, channel.number, commands.Queue.PurgeOk(message_count=count))

    def _queue_delete(
        self, conn: ClientConnection, channel: ChannelState, method: commands.Queue.Delete
    ) -> None:
        _expand_queue_shortcut(channel, method)
        self._authorize(conn, Access.CONFIGURE, Resource.QUEUE, method.queue)
        vhost = self._vhost(conn)
        queue = vhost.queues.get(method.queue)
        count = 0
        cancelled: list[Consumer] = []
        if queue is not None:
            vhost.check_exclusive_access(queue, conn)
            if method.if_unused and queue.consumers:
                raise vhost.queue_in_use_error(queue)
            if method.if_empty and queue.ready_count:
                raise vhost.queue_not_empty_error(queue)
            count, cancelled = self._remove_queue(vhost, queue)
        if not method.nowait:
            self._send(conn, channel.number, commands.Queue.DeleteOk(message_count=count))
        # RabbitMQ's consumers learn of the deletion after the deleter's delete-ok, so a client
        # waiting for that reply on a consuming channel (kombu) never meets the cancel first.
        self._notify_cancelled(cancelled)

    # ---- consuming ---------------------------------------------------------------------------

    def _basic_qos(self, conn: ClientConnection, channel: ChannelState, method: Basic.Qos) -> None:
        if method.prefetch_size:
            raise AMQPError(ReplyCode.NOT_IMPLEMENTED, f"prefetch_size!=0 ({method.prefetch_size})")
        if method.global_:
            channel.global_prefetch = method.prefetch_count
        else:
            channel.consumer_prefetch = method.prefetch_count
        self._send(conn, channel.number, Basic.QosOk())
        self._dispatch_channel(channel)

    def _basic_consume(
        self, conn: ClientConnection, channel: ChannelState, method: Basic.Consume
    ) -> None:
        _expand_queue_shortcut(channel, method)
        tag = method.consumer_tag
        if method.queue == PSEUDO_QUEUE:
            self._consume_replies(conn, channel, method)
            return
        self._authorize(conn, Access.READ, Resource.QUEUE, method.queue)
        vhost = self._vhost(conn)
        queue = vhost.queue_or_404(method.queue)
        vhost.check_exclusive_access(queue, conn)
        if tag and tag in channel.consumers:
            raise AMQPError(ReplyCode.NOT_ALLOWED, f"attempt to reuse consumer tag '{tag}'")
        priority = consumer_priority(
            method.arguments or {}, f"queue '{queue.name}' in vhost '{vhost.name}'"
        )
        if queue.has_exclusive_consumer() or (method.exclusive and queue.consumers):
            raise AMQPError(
                ReplyCode.ACCESS_REFUSED,
                f"queue '{queue.name}' in vhost '{vhost.name}' in exclusive use",
            )
        if not tag:
            tag = _new_consumer_tag()
        consumer = Consumer(
            tag=tag,
            queue=queue,
            channel=channel,
            no_ack=method.no_ack,
            exclusive=method.exclusive,
            prefetch=channel.consumer_prefetch,
            arguments=dict(method.arguments or {}),
            priority=priority,
        )
        channel.consumers[tag] = consumer
        queue.add_consumer(consumer)
        queue.touch(self.now)
        if not method.nowait:
            self._send(conn, channel.number, Basic.ConsumeOk(consumer_tag=tag))
        self._dispatch(queue)

    def _consume_replies(
        self, conn: ClientConnection, channel: ChannelState, method: Basic.Consume
    ) -> None:
        """basic.consume on amq.rabbitmq.reply-to (exclusive and arguments are ignored, as in
        RabbitMQ; no-local everywhere)."""
        tag = method.consumer_tag
        if tag in channel.consumers:
            raise AMQPError(ReplyCode.NOT_ALLOWED, f"attempt to reuse consumer tag '{tag}'")
        reply = self.replies.consume(channel, tag or _new_consumer_tag(), method.no_ack)
        if not method.nowait:
            self._send(conn, channel.number, Basic.ConsumeOk(consumer_tag=reply.tag))

    def _basic_cancel(
        self, conn: ClientConnection, channel: ChannelState, method: Basic.Cancel
    ) -> None:
        tag = method.consumer_tag or ""
        # The reply consumer is looked for first, as in RabbitMQ.
        if not self.replies.cancel(channel, tag):
            consumer = channel.consumers.get(tag)
            if consumer is not None:
                self._remove_consumer(conn, consumer)
        if not method.nowait:
            self._send(conn, channel.number, Basic.CancelOk(consumer_tag=method.consumer_tag))

    def _basic_get(self, conn: ClientConnection, channel: ChannelState, method: Basic.Get) -> None:
        _expand_queue_shortcut(channel, method)
        self._authorize(conn, Access.READ, Resource.QUEUE, method.queue)
        vhost = self._vhost(conn)
        queue = vhost.queue_or_404(method.queue)
        vhost.check_exclusive_access(queue, conn)
        queue.touch(self.now)
        entry = queue.pop(self.now)
        if entry is None:
            self._send(conn, channel.number, Basic.GetEmpty())
            self._dispatch(queue)  # dead-letters what expired on the way, reschedules
            return
        tag = channel.deliver(queue, entry, None, no_ack=method.no_ack)
        self.messages_delivered += 1
        message = entry.message
        conn.protocol.send_content(
            channel.number,
            make_method(
                Basic.GetOk,
                delivery_tag=tag,
                redelivered=entry.redelivered,
                exchange=message.exchange,
                routing_key=message.routing_key,
                message_count=queue.ready_count,
            ),
            message.properties_raw,
            message.body,
        )
        self._dirty.add(conn)
        self._dispatch(queue)

    def _basic_ack(self, conn: ClientConnection, channel: ChannelState, method: Basic.Ack) -> None:
        settled = channel.settle(method.delivery_tag, method.multiple, 60, 80)
        self.messages_acknowledged += len(settled)
        self._settle(channel, settled, None)

    def _basic_reject(
        self, conn: ClientConnection, channel: ChannelState, method: Basic.Reject
    ) -> None:
        settled = channel.settle(method.delivery_tag or 0, False, 60, 90)
        self._settle(channel, settled, method.requeue)

    def _basic_nack(
        self, conn: ClientConnection, channel: ChannelState, method: Basic.Nack
    ) -> None:
        settled = channel.settle(method.delivery_tag, method.multiple, 60, 120)
        self._settle(channel, settled, method.requeue)

    def _settle(self, channel: ChannelState, settled: list[Delivery], requeue: bool | None) -> None:
        """Finish an ack (requeue None), or a reject/nack; in a transaction, wait for commit."""
        if channel.tx_mode:
            channel.tx_settlements.append((settled, requeue))
        else:
            self._apply_settlement(channel, settled, requeue)

    def _apply_settlement(
        self, channel: ChannelState, settled: list[Delivery], requeue: bool | None
    ) -> None:
        if requeue is None:
            for delivery in settled:
                delivery.queue.ack_count += 1
        touched = self._return_or_drop(settled, requeue)
        for consumer in channel.consumers.values():
            touched.setdefault(id(consumer.queue), consumer.queue)
        for queue in touched.values():
            self._dispatch(queue)

    @staticmethod
    def _return_or_drop(deliveries: list[Delivery], requeue: bool | None) -> dict[int, Queue]:
        """Requeue settled deliveries (requeue=True, unless their queue is gone), or remove
        them: acked (None) or rejected (False, which dead-letters). Returns the queues touched,
        to dispatch."""
        touched: dict[int, Queue] = {}
        for delivery in deliveries:
            queue = delivery.queue
            if requeue and not queue.deleted:
                queue.requeue(delivery.entry)
            else:
                reason = Removal.ACKED if requeue is None else Removal.REJECTED
                queue.remove(delivery.entry, reason)
            touched[id(queue)] = queue
        return touched

    def _basic_recover(
        self, conn: ClientConnection, channel: ChannelState, method: Basic.Recover
    ) -> None:
        if not method.requeue:
            raise AMQPError(ReplyCode.NOT_IMPLEMENTED, "requeue=false")
        settled = channel.take_all_unacked()
        self._settle(channel, settled, True)
        if isinstance(method, Basic.Recover):
            self._send(conn, channel.number, Basic.RecoverOk())

    # ---- publishing --------------------------------------------------------------------------

    def _publish(
        self, conn: ClientConnection, channel: ChannelState, event: ContentReceived
    ) -> None:
        """Checks happen at publish time (as RabbitMQ does); in a transaction, routing waits."""
        method = event.method
        assert isinstance(method, Basic.Publish)
        if method.immediate:  # refused before anything else is looked at, as in RabbitMQ
            raise AMQPError(ReplyCode.NOT_IMPLEMENTED, "immediate=true")
        generation = self.users.generation
        if not channel.may_write(method.exchange, generation):
            self._authorize(conn, Access.WRITE, Resource.EXCHANGE, method.exchange)
            channel.allowed_write(method.exchange, generation)
        vhost = self._vhost(conn)
        exchange = vhost.exchanges.get(method.exchange)
        if exchange is None or exchange.internal:
            self.publish_target(vhost, method.exchange)  # raises 404 or 403
        properties = event.header.properties
        properties_raw = event.header.properties_raw
        if properties.reply_to == PSEUDO_QUEUE:
            # Direct reply-to: the responder sees the name this channel's replies arrive under.
            properties.reply_to = self.replies.address_for(channel)
            properties_raw = replace_property(
                properties_raw, "reply_to", shortstr(properties.reply_to)
            )
        if properties.user_id is not None:
            self._check_user_id(conn, properties.user_id)
        ttl = None if properties.expiration is None else parse_expiration(properties.expiration)
        if properties.delivery_mode is not None:
            self.check_delivery_mode(properties)
        sender_routes: tuple[str, ...] = ()
        if properties.headers:
            sender_routes, properties_raw = take_sender_routes(properties_raw, properties)
        message = Message(
            method.exchange,
            method.routing_key,
            properties_raw,
            properties,
            event.body,
            ttl=ttl,
            sender_routes=sender_routes,
        )
        if not conn.publisher:
            conn.publisher = True
            if self.publishers_blocked:
                self._pause_publisher(conn)
        if channel.tx_mode:
            channel.tx_publishes.append((message, method.mandatory))
            return
        store_op = self.store.op if self.store is not None else 0
        refused = self._route(conn, channel, message, method.mandatory)
        if channel.confirm_mode:
            # Confirmed when this batch of input is done: one basic.ack(multiple) for many,
            # basic.nack for a publish a queue refused (x-overflow reject-publish); a
            # persistent message the store took is confirmed once it is on disk.
            channel.publish_seq += 1
            if refused:
                channel.nacked.add(channel.publish_seq)
            if self.store is not None and message.persistent and self.store.op != store_op:
                channel.durable_waits.append((channel.publish_seq, self.store.op))
                self._awaiting_durable[channel] = conn
            conn.confirms_due.add(channel)

    def _check_user_id(self, conn: ClientConnection, user_id: str | None) -> None:
        """RabbitMQ's validated user-ID: a message may only claim its publisher's user name,
        unless that user has the impersonator tag."""
        if user_id is None or user_id == conn.username:
            return
        user = self.users.user(conn.username)
        if user is not None and "impersonator" in user.tags:
            return
        raise AMQPError(
            ReplyCode.PRECONDITION_FAILED,
            f"user_id property set to '{user_id}' but authenticated user was '{conn.username}'",
        )

    @staticmethod
    def publish_target(vhost: VirtualHost, name: str) -> None:
        """The checks on the exchange a publish names: 404 unknown, 403 internal."""
        exchange = vhost.exchange_or_404(name)
        if exchange.internal:
            raise AMQPError(
                ReplyCode.ACCESS_REFUSED,
                f"cannot publish to internal exchange '{name}' in vhost '{vhost.name}'",
            )

    @staticmethod
    def check_delivery_mode(properties: Basic.Properties) -> None:
        if properties.delivery_mode not in (None, 1, 2):
            raise AMQPError(
                ReplyCode.PRECONDITION_FAILED,
                f"invalid message: {{delivery_mode_unknown,{properties.delivery_mode}}}",
            )

    def route_message(self, vhost: VirtualHost, message: Message) -> tuple[list[Queue], bool]:
        """Route a message from its exchange into every queue it reaches and deliver what can
        be; returns those queues (empty: unroutable) and whether some queue refused it."""
        self.messages_published += 1
        exchange = vhost.exchanges.get(message.exchange)
        queues: list[Queue]
        if exchange is None:
            queues = []
        elif message.sender_routes:
            queues = self._route_keys(vhost, exchange, message)
        elif not message.exchange and is_reply_name(message.routing_key):
            # A reply goes straight to its requester; like RabbitMQ, it counts as unroutable
            # (mandatory brings it back as well).
            self._deliver_reply(message, message.routing_key)
            queues = []
        elif not message.exchange and (not exchange.arguments or exchange.alternate is None):
            # The default exchange (vhost.route's answer, without walking a graph): the queue
            # the routing key names, if there is one.
            queue = vhost.queues.get(message.routing_key)
            queues = [] if queue is None else [queue]
        else:
            queues = vhost.route(exchange, message.routing_key, message.properties.headers)
        refused = False
        for queue in queues:
            if not self._enqueue(queue, message):
                refused = True
        if self.history.watching:
            self.history.record(vhost.name, message, [queue.name for queue in queues])
        return queues, refused

    def _route_keys(self, vhost: VirtualHost, exchange: Exchange, message: Message) -> list[Queue]:
        """Routing with CC/BCC keys besides the routing key: each queue once, in order."""
        queues: dict[int, Queue] = {}
        for key in dict.fromkeys((message.routing_key, *message.sender_routes)):
            if not message.exchange and is_reply_name(key):
                self._deliver_reply(message, key)
                continue
            for queue in vhost.route(exchange, key, message.properties.headers):
                queues.setdefault(id(queue), queue)
        return list(queues.values())

    def _route(
        self, conn: ClientConnection, channel: ChannelState, message: Message, mandatory: bool
    ) -> bool:
        """Deliver a publish to every queue it reaches; True if some queue refused it."""
        queues, refused = self.route_message(self._vhost(conn), message)
        if not queues and mandatory:
            conn.protocol.send_content(
                channel.number,
                make_method(
                    Basic.Return,
                    reply_code=int(ReplyCode.NO_ROUTE),
                    reply_text="NO_ROUTE",
                    exchange=message.exchange,
                    routing_key=message.routing_key,
                ),
                message.properties_raw,
                message.body,
            )
            self._dirty.add(conn)
        return refused

    def _enqueue(self, queue: Queue, message: Message) -> bool:
        """Put a message on a queue and deliver what can be; False when the queue refused it
        (full, with x-overflow reject-publish or reject-publish-dlx)."""
        if queue.options.overflow is not Overflow.DROP_HEAD and queue.would_overflow(message):
            if queue.options.overflow is Overflow.REJECT_PUBLISH_DLX:
                self._dead_letter(queue, message, Removal.MAXLEN)
            return False
        if not queue.ready_count and queue.consumers:
            # RabbitMQ's attempt_delivery: an empty queue hands a publish straight to a
            # consumer with room, without queueing it first.
            consumer = queue.next_consumer(self._can_deliver)
            if consumer is not None:
                self._deliver(consumer, queue, queue.publish_taken(message, self.now))
                self._tidy(queue)
                return True
        entry = queue.publish(message, self.now)
        self._dispatch(queue, entry)
        return True

    def _dead_letter(self, queue: Queue, message: Message, reason: Removal) -> None:
        """Republish a message that died in `queue` to its dead-letter exchange (dropped if
        that exchange does not exist), skipping queues that would close an automatic cycle."""
        dlx = queue.options.dead_letter_exchange
        vhost = self.vhosts.get(queue.vhost)
        exchange = vhost.exchanges.get(dlx) if vhost is not None and dlx is not None else None
        if vhost is None or exchange is None or dlx is None:
            return
        copy = dead_letter_copy(
            message,
            reason=reason.value,
            queue=queue.name,
            exchange=dlx,
            routing_key=queue.options.dead_letter_routing_key,
            posix_time=self.wall_clock(),
        )
        headers = copy.properties.headers
        targets = (
            self._route_keys(vhost, exchange, copy)
            if copy.sender_routes
            else vhost.route(exchange, copy.routing_key, headers)
        )
        for target in targets:
            if reason is Removal.REJECTED or not is_cycle(target.name, headers):
                self._enqueue(target, copy)

    def _confirm_select(
        self, conn: ClientConnection, channel: ChannelState, method: commands.Confirm.Select
    ) -> None:
        if channel.tx_mode:
            raise AMQPError(ReplyCode.PRECONDITION_FAILED, "cannot switch from tx to confirm mode")
        channel.confirm_mode = True
        if not method.nowait:
            self._send(conn, channel.number, commands.Confirm.SelectOk())

    def _tx_select(
        self, conn: ClientConnection, channel: ChannelState, method: commands.Tx.Select
    ) -> None:
        if channel.confirm_mode:
            raise AMQPError(ReplyCode.PRECONDITION_FAILED, "cannot switch from confirm to tx mode")
        channel.tx_mode = True
        self._send(conn, channel.number, commands.Tx.SelectOk())

    def _tx_commit(
        self, conn: ClientConnection, channel: ChannelState, method: commands.Tx.Commit
    ) -> None:
        if not channel.tx_mode:
            raise AMQPError(ReplyCode.PRECONDITION_FAILED, "channel is not transactional")
        publishes, channel.tx_publishes = channel.tx_publishes, []
        settlements, channel.tx_settlements = channel.tx_settlements, []
        for message, mandatory in publishes:
            self._route(conn, channel, message, mandatory)
        for settled, requeue in settlements:
            self._apply_settlement(channel, settled, requeue)
        self._send(conn, channel.number, commands.Tx.CommitOk())

    def _tx_rollback(
        self, conn: ClientConnection, channel: ChannelState, method: commands.Tx.Rollback
    ) -> None:
        if not channel.tx_mode:
            raise AMQPError(ReplyCode.PRECONDITION_FAILED, "channel is not transactional")
        channel.tx_publishes = []
        channel.rollback_settlements()
        self._send(conn, channel.number, commands.Tx.RollbackOk())

    # ---- delivery ----------------------------------------------------------------------------

    def _dispatch_channel(self, channel: ChannelState) -> None:
        queues: dict[int, Queue] = {}
        for consumer in channel.consumers.values():
            queues[id(consumer.queue)] = consumer.queue
        for queue in queues.values():
            self._dispatch(queue)

    def _can_deliver(self, consumer: Consumer) -> bool:
        owner = cast(ClientConnection, consumer.channel.owner)  # called per delivery
        return (
            consumer.has_capacity()
            and owner.protocol.pending_output < self.config.consumer_output_high_water
        )

    def _dispatch(self, queue: Queue, fresh: QueuedMessage | None = None) -> None:
        """Bring a queue up to date after any change: deliver ready messages to consumers
        with room (queue.next_consumer picks by priority, in turn), drop what expired or
        overflows, dead-letter what died, and reschedule the queue's timer.

        `fresh` is a message published in this step, which a waiting consumer may take
        even with TTL 0."""
        now = self.now
        while queue.ready_count and queue.consumers:
            consumer = queue.next_consumer(self._can_deliver)
            if consumer is None:
                break
            entry = queue.pop(now, fresh)
            if entry is None:
                break
            self._deliver(consumer, queue, entry)
        self._tidy(queue)

    def _tidy(self, queue: Queue) -> None:
        """After deliveries: drop what overflows or expired, dead-letter what died, and
        reschedule the queue's timer."""
        queue.drop_over_limit()  # RabbitMQ's order: drop-head, then what expired at the new head
        queue.drop_expired(self.now)
        if queue.dead_letters:
            for entry, reason in queue.take_dead_letters():
                self._dead_letter(queue, entry.message, reason)
        self.deadlines.set(queue, None if queue.deleted else queue.next_deadline())

    def _deliver(self, consumer: Consumer, queue: Queue, entry: QueuedMessage) -> None:
        channel = consumer.channel
        owner = channel.owner
        assert isinstance(owner, ClientConnection)
        tag = channel.deliver(queue, entry, consumer, no_ack=consumer.no_ack)
        self.messages_delivered += 1
        message = entry.message
        protocol = owner.protocol
        frames = encode_delivery(
            channel.number,
            consumer_tag=consumer.tag,
            delivery_tag=tag,
            redelivered=entry.redelivered,
            exchange=message.exchange,
            routing_key=message.routing_key,
            properties_raw=message.properties_raw,
            body=message.body,
            frame_max=protocol.frame_max,
        )
        if frames is not None:
            protocol.send_frames(frames)
        else:
            protocol.send_content(
                channel.number,
                make_method(
                    Basic.Deliver,
                    consumer_tag=consumer.tag,
                    delivery_tag=tag,
                    redelivered=entry.redelivered,
                    exchange=message.exchange,
                    routing_key=message.routing_key,
                ),
                message.properties_raw,
                message.body,
            )
        self._dirty.add(owner)

    def _deliver_reply(self, message: Message, name: str) -> None:
        """Deliver to the reply consumer called `name`. A reply to a requester that has gone is
        dropped quietly, as RabbitMQ drops it."""
        reply = self.replies.find(name)
        if reply is None:
            return
        channel = reply.channel
        owner = channel.owner
        assert isinstance(owner, ClientConnection)
        if not owner.protocol.channel_is_open(channel.number):
            return
        # RabbitMQ's delivery tag here is the channel's next one, not consumed: replies are
        # never acked, so they take no tag of their own.
        owner.protocol.send_content(
            channel.number,
            make_method(
                Basic.Deliver,
                consumer_tag=reply.tag,
                delivery_tag=channel.next_tag,
                redelivered=False,
                exchange="",
                routing_key=message.routing_key,
            ),
            message.properties_raw,
            message.body,
        )
        self._dirty.add(owner)

    # ---- operations without an AMQP channel (the management API) ---------------------------

    def declare_exchange(
        self,
        vhost: VirtualHost,
        name: str,
        type_name: str,
        *,
        durable: bool,
        auto_delete: bool,
        internal: bool,
        arguments: dict[str, Any],
    ) -> None:
        """exchange.declare's checks and effects; raises AMQPError as the method would."""
        vhost.declare_exchange(
            name,
            type_name,
            durable=durable,
            auto_delete=auto_delete,
            internal=internal,
            arguments=arguments,
        )
        if durable:
            self._durable_change(vhost)

    def delete_exchange(self, vhost: VirtualHost, name: str, if_unused: bool) -> None:
        vhost.delete_exchange(name, if_unused)
        self._durable_change(vhost)

    def declare_queue(
        self,
        vhost: VirtualHost,
        name: str,
        *,
        durable: bool,
        auto_delete: bool,
        arguments: dict[str, Any],
    ) -> Queue:
        """queue.declare without an owning connection (so never exclusive)."""
        queue = vhost.declare_queue(
            name,
            owner=None,
            durable=durable,
            auto_delete=auto_delete,
            arguments=arguments,
            now=self.now,
        )
        self._queue_declared(vhost, queue)
        return queue

    def change_binding(
        self,
        vhost: VirtualHost,
        source: str,
        destination: tuple[str, str],
        *,
        routing_key: str,
        arguments: dict[str, Any],
        bind: bool,
    ) -> None:
        """queue.bind/exchange.bind (bind=True) or their unbinds, without a connection."""
        change = vhost.bind if bind else vhost.unbind
        change(source, destination, routing_key, arguments, None)
        self._durable_change(vhost)

    def take_messages(self, queue: Queue, count: int) -> list[QueuedMessage]:
        """basic.get up to `count` times for the management API's get; every message taken
        must then go to settle_taken(), in the same broker step."""
        queue.touch(self.now)
        taken: list[QueuedMessage] = []
        while len(taken) < count and (entry := queue.pop(self.now)) is not None:
            taken.append(entry)
        self.messages_delivered += len(taken)
        return taken

    def settle_taken(self, queue: Queue, taken: list[QueuedMessage], requeue: bool) -> None:
        """Requeue taken messages (redelivered, in their original places) or drop them as
        acked."""
        for entry in taken:
            if requeue and not queue.deleted:
                queue.requeue(entry)
            else:
                queue.remove(entry, Removal.ACKED)
        self._dispatch(queue)

    def purge_queue(self, queue: Queue) -> int:
        """Drop a queue's ready messages (unacked ones stay with their consumers)."""
        count = queue.purge()
        self._dispatch(queue)
        self.check_memory()  # the memory alarm may clear
        return count

    def delete_queue(self, vhost: VirtualHost, queue: Queue) -> int:
        """Delete a queue as queue.delete does (its consumers are cancelled); returns the
        ready messages dropped."""
        return self._delete_queue(vhost, queue)

    # ---- shutdown ----------------------------------------------------------------------------

    def close_all(self, detail: str) -> None:
        for conn in list(self.connections.values()):
            self.force_close(conn, detail)

    def iter_connections(self) -> Iterable[ClientConnection]:
        return list(self.connections.values())


def _load_users(config: BrokerConfig) -> UserStore:
    """The user store as the config describes it; raises ValueError for a bad hash or regex."""
    users = UserStore()
    for user in config.users:
        users.put_user(
            user.name,
            password_hash=user.password_hash,
            hashing_algorithm=user.hashing_algorithm,
            tags=user.tags,
            loopback_only=user.loopback_only,
        )
    for grant in config.permissions:
        users.set_permissions(grant.user, grant.vhost, grant.configure, grant.write, grant.read)
    return users


def _new_consumer_tag() -> str:
    return "amq.ctag-" + base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")


def _expand_queue_shortcut(
    channel: ChannelState,
    method: commands.Queue.Bind
    | commands.Queue.Unbind
    | commands.Queue.Purge
    | commands.Queue.Delete
    | Basic.Consume
    | Basic.Get,
) -> None:
    """An empty queue name means the channel's most recently declared queue, and in a binding
    an empty routing key beside it means that queue's name too (the spec's shortcut, which
    RabbitMQ keeps and rabbitmq-c's tools rely on). With none declared: 404, as RabbitMQ says."""
    if method.queue:
        return
    name = channel.last_declared_queue
    if not name:
        raise AMQPError(ReplyCode.NOT_FOUND, "no previously declared queue")
    if isinstance(method, commands.Queue.Bind | commands.Queue.Unbind) and not method.routing_key:
        method.routing_key = name
    method.queue = name
