# The trio layer: sockets, tasks and time. Everything else is synchronous and lives in Broker.
#
# Rules kept here:
# - One nursery per connection with a reader, a writer and a timer task. The reader feeds bytes to
#   the broker; the writer sends everything queued for the connection in one send_all per wake-up;
#   the timer drives heartbeats and the handshake timeout.
# - One broker-wide timer task runs queue deadlines (message TTL, x-expires): it sleeps until the
#   earliest one and is woken early whenever a broker call leaves a nearer deadline behind.
# - An exception escaping the broker at a connection's boundary is logged, answered with
#   541 INTERNAL_ERROR on that connection only, and never reaches the listener or other clients.
# - A failed or cancelled write means a dead connection: it may have sent half a frame.
# - The durable store's writes and fsyncs run in a worker thread, one batch at a time; changes
#   made meanwhile wait for the next batch (group commit). The event loop never touches the disk.
from __future__ import annotations

import ipaddress
import logging
import math
import socket
import struct
from collections.abc import Callable
from typing import Any, TypeVar

import trio

from amqp_broker.broker import Broker, ClientConnection
from amqp_broker.config import BrokerConfig
from amqp_broker.errors import ReplyCode
from amqp_broker.listeners import BoundAddress
from amqp_broker.protocol.connection import ConnectionState
from amqp_broker.store import DurableStore, StoreError
from amqp_broker.tls import common_name, server_context

log = logging.getLogger("amqp_broker")
T = TypeVar("T")

# A read takes whatever the socket holds, up to this. Each read costs a broker batch, a wake-up
# and a send per consumer connection it gave output to: with 1 KiB bodies a 64 KiB read held
# about 60 publishes, too few to spread that cost (docs/performance.md, "Reads"). The bound is
# also how long one connection's input can hold the event loop: 128 KiB of 16-byte publishes
# is about 1,400 messages, 30 ms.
READ_SIZE = 128 * 1024
SLICE = 256  # events applied from one connection's input before others get a turn
_HANDSHAKE = frozenset(
    {
        ConnectionState.AWAIT_HEADER,
        ConnectionState.AWAIT_START_OK,
        ConnectionState.AWAIT_TUNE_OK,
        ConnectionState.AWAIT_OPEN,
    }
)


class _Waker:
    """Wakes a writer; a wake before the writer waits is not lost."""

    def __init__(self) -> None:
        self._event = trio.Event()

    def wake(self) -> None:
        self._event.set()

    async def wait(self) -> None:
        await self._event.wait()
        self._event = trio.Event()


class _ConnectionWakers:
    """A connection's writer waits for output; its reader, when paused, for the resume."""

    def __init__(self) -> None:
        self.writer = _Waker()
        self.reader = _Waker()
        self.flushed = trio.Event()  # the writer sent everything after the client's Close

    def wake(self) -> None:
        self.writer.wake()
        self.reader.wake()


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", maxsplit=1)[0]).is_loopback
    except ValueError:
        return False


class BrokerServer:
    """Runs a Broker on TCP listeners until shutdown() or cancellation."""

    def __init__(
        self,
        config: BrokerConfig | None = None,
        broker: Broker | None = None,
        *,
        sockets: list[socket.socket] | None = None,
    ) -> None:
        """`sockets`: listening sockets (amqp_broker.listeners) to serve on instead of opening
        the plain listener at config.host/port (the CLI binds its port before loading)."""
        self.config = config or (broker.config if broker else BrokerConfig())
        self._bound = sockets
        self.broker = broker or Broker(self.config)
        self._wakers: dict[ClientConnection, _ConnectionWakers] = {}
        self._cancel_scope: trio.CancelScope | None = None
        self._connections_done = trio.Event()
        self._active = 0
        # Connections still in the handshake, oldest first, with the scope that ends each.
        self._handshaking: dict[ClientConnection, trio.CancelScope] = {}
        self._store_waker = _Waker()
        self._stopped: trio.Event | None = None  # set when run() has finished
        self.address: BoundAddress | None = None
        # Set when run() returns, so services beside the broker (the management API) stop too.
        self.stopped = trio.Event()
        # Socket totals for /metrics: plain ints, bumped once per read or write.
        self.bytes_received = 0
        self.bytes_sent = 0
        self.tls_address: BoundAddress | None = None  # the amqps listener, when configured
        self._timer_waker = _Waker()
        self._timer_target = math.inf  # the deadline the queue timer sleeps until
        self._sockets: dict[ClientConnection, tuple[trio.SocketStream, trio.CancelScope]] = {}
        self._held: dict[ClientConnection, bytes] = {}  # input read while frozen
        # Change notification for tests' waits: set after every batch the broker applied.
        self._changed: trio.Event | None = None
        self.change_listeners: list[Callable[[], None]] = []  # called on the broker's thread

    async def run(
        self, *, task_status: trio.TaskStatus[BoundAddress] = trio.TASK_STATUS_IGNORED
    ) -> None:
        self._stopped = trio.Event()
        try:
            self.broker.start(trio.current_time())
            address, listeners = await self._open_listeners()
            with trio.CancelScope() as scope:
                self._cancel_scope = scope
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(trio.serve_listeners, self._handle_stream, listeners)
                    if self.broker.store is not None:
                        nursery.start_soon(self._store_writer, self.broker.store)
                    nursery.start_soon(self._run_queue_timers)
                    task_status.started(address)
        finally:
            self.broker.close()  # the store's last batch, then the data directory is released
            self._stopped.set()
            self.stopped.set()

    async def _open_listeners(self) -> tuple[BoundAddress, list[trio.abc.Listener[Any]]]:
        """The plain listener's address; the listeners, amqps too if a certificate is set."""
        listeners: list[trio.abc.Listener[Any]] = []
        if self._bound is not None:
            tcp = [trio.SocketListener(trio.socket.from_stdlib_socket(s)) for s in self._bound]
            self._bound = None
        else:
            tcp = await trio.open_tcp_listeners(self.config.port, host=self.config.host)
        listeners.extend(tcp)
        sockname = tcp[0].socket.getsockname()
        self.address = BoundAddress(sockname[0], sockname[1])
        context = server_context(self.config)
        if context is not None:
            tls = await trio.open_ssl_over_tcp_listeners(
                self.config.tls_port, context, host=self.config.host
            )
            listeners.extend(tls)
            transport = tls[0].transport_listener
            assert isinstance(transport, trio.SocketListener)
            sockname = transport.socket.getsockname()
            self.tls_address = BoundAddress(sockname[0], sockname[1], "amqps")
        return self.address, listeners

    async def _store_writer(self, store: DurableStore) -> None:
        while True:
            batch = store.take_batch()
            if batch is None:
                await self._store_waker.wait()
                continue
            # Shielded: a batch taken is always written (shutdown waits for it), never dropped
            # by a cancellation arriving between take_batch() and the thread starting.
            try:
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(store.writer.write, batch)
            except OSError as error:
                # Nothing in this batch may be confirmed, and later batches could not be made
                # durable either: stop the broker (clients lose their connections, and
                # publishers resend what was not confirmed), as RabbitMQ does.
                store.failed = True
                log.critical("the durable store cannot write: %s", error)
                raise StoreError(
                    f"cannot write to data directory {store.directory.path}: "
                    f"{error.strerror or error}"
                ) from error
            store.durable_op = batch.op
            self.broker.store_durable(batch.op)
            self._wake_all()

    async def shutdown(self, grace: float = 2.0) -> None:
        """Close every client with 320 CONNECTION_FORCED, give them `grace` s, then stop."""
        self.broker.close_all("broker shutdown")
        self._wake_all()
        with trio.move_on_after(grace):
            while self._active:
                await self._connections_done.wait()
                self._connections_done = trio.Event()
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()
        if self._stopped is not None:
            # run() has released the data directory when this returns: a new broker may open it
            await self._stopped.wait()

    def _wake_all(self) -> None:
        store = self.broker.store
        if store is not None and store.has_work:
            self._store_waker.wake()
        for conn in self.broker.take_dirty():
            wakers = self._wakers.get(conn)
            if wakers is not None:
                wakers.wake()
        deadline = self.broker.next_deadline()
        if deadline is not None and deadline < self._timer_target:
            self._timer_waker.wake()
        if self._changed is not None:
            self._changed.set()
            self._changed = None
        for listener in self.change_listeners:
            listener()

    async def _run_queue_timers(self) -> None:
        """Expire messages and unused queues on time, whatever the connections are doing."""
        while True:
            deadline = self.broker.next_deadline()
            self._timer_target = math.inf if deadline is None else deadline
            with trio.move_on_at(self._timer_target):
                await self._timer_waker.wait()
                continue  # a nearer deadline appeared: sleep again until that one
            self._timer_target = math.inf
            try:
                self.broker.run_timers(trio.current_time())
            except Exception:
                log.exception("queue timers failed")
            self._wake_all()

    async def wait_changed(self) -> None:
        """Return after the broker next applies something (a batch of input, a tick, a test's
        apply()): the moment to re-check a condition on its state."""
        if self._changed is None:
            self._changed = trio.Event()
        await self._changed.wait()

    def apply(self, fn: Callable[[], T]) -> T:
        """Run a change made from outside the protocol (a test's publish, a forced close), then
        wake the writers it gave output to and anyone waiting for a change."""
        try:
            return fn()
        finally:
            self._wake_all()

    def drop_connection(self, conn: ClientConnection) -> None:
        """Close the socket with a TCP reset and no AMQP close, as a crashed broker or a broken
        network would (SO_LINGER 0, then close)."""
        found = self._sockets.get(conn)
        if found is None:
            return
        stream, scope = found
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        scope.cancel()

    def freeze(self, conn: ClientConnection, frozen: bool = True) -> None:
        """Stop (or resume) answering a connection, as a hung broker would: what the client
        sends is held unread, nothing is sent to it, heartbeats included, and the broker's
        own heartbeat timeout is suspended, so the client's fires first. The client closing
        the socket is still noticed. Thawing applies the held input and sends what waited."""
        conn.frozen = frozen
        held = b"" if frozen else self._held.pop(conn, b"")
        if held:
            self._guard(conn, self.broker.receive, conn, held, trio.current_time())
        wakers = self._wakers.get(conn)
        if wakers is not None:
            wakers.wake()

    async def _handle_stream(self, stream: trio.SocketStream | trio.SSLStream[Any]) -> None:
        tcp = stream.transport_stream if isinstance(stream, trio.SSLStream) else stream
        try:
            peer = tcp.socket.getpeername()
            host = str(peer[0])
            peer_name = f"{host}:{peer[1]}"
        except OSError:
            host, peer_name = "", "unknown"
        limit = self.config.max_connections
        if limit and self._active >= limit:
            # As RabbitMQ's listener does at its connection limit: no AMQP, just a closed socket.
            log.warning("closing %s: connection limit (%d) is reached", peer_name, limit)
            with trio.CancelScope(shield=True), trio.move_on_after(0.5):
                await stream.aclose()
            return
        conn = self.broker.new_connection(peer_name, _is_loopback(host), trio.current_time())
        wakers = self._wakers[conn] = _ConnectionWakers()
        self._active += 1
        try:
            async with trio.open_nursery() as nursery:
                self._sockets[conn] = (tcp, nursery.cancel_scope)
                nursery.start_soon(self._reader, stream, conn, nursery.cancel_scope)
                nursery.start_soon(self._writer, stream, conn, wakers.writer, nursery.cancel_scope)
                nursery.start_soon(self._timer, conn, nursery.cancel_scope)
                self._handshaking[conn] = nursery.cancel_scope
                self._limit_handshaking()
        except Exception:
            log.exception("connection %s failed", peer_name)
        finally:
            self._handshaking.pop(conn, None)
            self._guard(conn, self.broker.connection_lost, conn)
            self._wakers.pop(conn, None)
            self._sockets.pop(conn, None)
            self._held.pop(conn, None)
            self._wake_all()
            self._active -= 1
            self._connections_done.set()
            with trio.CancelScope(shield=True), trio.move_on_after(0.5):
                await stream.aclose()

    def _limit_handshaking(self) -> None:
        """Above max_unauthenticated sockets in the handshake, drop the oldest: sockets that
        connect and stall cannot lock out a client that completes its handshake promptly."""
        for conn in [c for c in self._handshaking if c.protocol.state not in _HANDSHAKE]:
            del self._handshaking[conn]
        limit = self.config.max_unauthenticated
        while limit and len(self._handshaking) > limit:
            oldest = next(iter(self._handshaking))
            log.warning(
                "dropping %s: more than %d connections are in the handshake", oldest.peer, limit
            )
            self._handshaking.pop(oldest).cancel()

    def _guard(self, conn: ClientConnection, fn: Any, *args: Any) -> Any:
        """Run a broker call; a bug in it costs this connection only (541 INTERNAL_ERROR)."""
        try:
            return fn(*args)
        except Exception:
            log.exception("internal error on connection %s", conn.peer)
            try:
                conn.protocol.close(ReplyCode.INTERNAL_ERROR, "internal error")
                self.broker.connection_lost(conn)
            except Exception:
                log.exception("could not close connection %s cleanly", conn.peer)
            return None
        finally:
            self._wake_all()

    async def _reader(
        self,
        stream: trio.SocketStream | trio.SSLStream[Any],
        conn: ClientConnection,
        scope: trio.CancelScope,
    ) -> None:
        if isinstance(stream, trio.SSLStream) and not await _tls_handshake(stream, conn):
            self._guard(conn, self.broker.receive, conn, b"", trio.current_time())
        while _in_use(conn):
            if conn.read_paused:
                # Blocked publisher: stop reading so TCP back-pressure reaches the client.
                await self._wakers[conn].reader.wait()
                continue
            try:
                data = await stream.receive_some(READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            self.bytes_received += len(data)
            if conn.frozen and data:
                # A hung broker's kernel still takes the bytes; nobody handles them until thawed.
                self._held[conn] = self._held.get(conn, b"") + data
                continue
            more = self._guard(conn, self.broker.receive, conn, data, trio.current_time(), SLICE)
            while more:
                # A read holds thousands of publishes: other connections (a consumer's acks and
                # deliveries) take their turn between slices instead of after all of them.
                await trio.sleep(0)
                more = self._guard(conn, self.broker.resume, conn, trio.current_time(), SLICE)
            if not data:
                break
        # Nothing more will be read: let the writer flush, then give up after close_timeout.
        wakers = self._wakers[conn]
        wakers.writer.wake()
        with trio.move_on_after(self.config.close_timeout):
            if conn.protocol.closed_by_client:
                await self._discard_until_eof(stream)
                await wakers.flushed.wait()
            else:
                await trio.sleep_forever()
        scope.cancel()

    async def _discard_until_eof(self, stream: trio.SocketStream | trio.SSLStream[Any]) -> None:
        """After Close-Ok, read and drop what the client still sends until it closes the socket,
        as RabbitMQ does. Closing with unread bytes makes the kernel send a reset, which can
        destroy the Close-Ok before the client reads it and fails the client's pending writes."""
        while True:
            try:
                data = await stream.receive_some(READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            if not data:
                return
            self.bytes_received += len(data)

    async def _writer(
        self,
        stream: trio.SocketStream | trio.SSLStream[Any],
        conn: ClientConnection,
        waker: _Waker,
        scope: trio.CancelScope,
    ) -> None:
        while True:
            data = b"" if conn.frozen else conn.protocol.data_to_send()
            if data:
                try:
                    await stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    break
                self.bytes_sent += len(data)
                self._guard(conn, self.broker.output_drained, conn)
                continue
            if not _in_use(conn):
                if conn.protocol.closed_by_client:
                    self._wakers[conn].flushed.set()
                    return  # the reader closes once the client hangs up
                break
            await waker.wait()
        scope.cancel()

    async def _timer(self, conn: ClientConnection, scope: trio.CancelScope) -> None:
        closing_since: float | None = None
        while not conn.protocol.closed:
            if conn.protocol.state is ConnectionState.CLOSING:
                # We sent Connection.Close; a client that never answers is dropped.
                closing_since = closing_since or trio.current_time()
                if trio.current_time() - closing_since >= self.config.close_timeout:
                    scope.cancel()
                    return
            # A frozen connection has no timers: no heartbeats sent, no heartbeat timeout.
            deadline = (
                None
                if conn.frozen
                else self._guard(conn, self.broker.tick, conn, trio.current_time())
            )
            # Wake at least every second: the deadline moves as the handshake progresses.
            now = trio.current_time()
            until = min(deadline if deadline is not None else math.inf, now + 1.0)
            await trio.sleep_until(max(until, now + 0.01))


async def _tls_handshake(stream: trio.SSLStream[Any], conn: ClientConnection) -> bool:
    """Finish the TLS handshake before any AMQP byte, so Connection.Start can offer EXTERNAL
    when the client showed a verified certificate. The handshake timeout covers it."""
    try:
        await stream.do_handshake()
    except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
        log.info("TLS handshake with %s failed: %s", conn.peer, exc.__cause__ or exc)
        return False
    conn.protocol.peer_identity = common_name(stream.getpeercert())
    return True


def _in_use(conn: ClientConnection) -> bool:
    """Whether the socket still has work: the connection is open, or we sent Connection.Close
    and wait for Close-Ok (the broker has already released it). RabbitMQ waits for Close-Ok too;
    closing the socket at once makes the client's Close-Ok fail with a broken pipe."""
    if conn.protocol.closed:
        return False
    return not conn.gone or conn.protocol.state is ConnectionState.CLOSING


async def serve(
    config: BrokerConfig | None = None,
    *,
    broker: Broker | None = None,
    task_status: trio.TaskStatus[BoundAddress] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the broker until cancelled; `await nursery.start(serve, config)` returns the address."""
    server = BrokerServer(config, broker)
    await server.run(task_status=task_status)
