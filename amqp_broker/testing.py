# Running the broker inside tests: in trio code (open_broker), in a background thread for sync or
# asyncio code (BrokerThread), or as a subprocess (BrokerProcess).
#
# Rules kept here: every runner binds an ephemeral port on 127.0.0.1 unless told otherwise, reports
# the real address, and stops cleanly (clients get 320 CONNECTION_FORCED) when the block ends.
# The in-process runners carry the test controls (amqp_broker.controls) and wait_for(): a wait
# re-checks its condition whenever the broker has applied something, and every `poll` seconds
# for conditions on the client's side, and fails after `timeout` naming the condition.
from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from types import TracebackType
from typing import TypeVar

import trio

from amqp_broker.broker import Broker
from amqp_broker.config import BrokerConfig
from amqp_broker.controls import BrokerControls, Condition, WaitTimeoutError, wait_timeout
from amqp_broker.listeners import BoundAddress
from amqp_broker.server import BrokerServer

__all__ = [
    "BrokerProcess",
    "BrokerThread",
    "Condition",
    "RunningBroker",
    "WaitTimeoutError",
    "open_broker",
    "vhost_url",
]

T = TypeVar("T")
DEFAULT_TIMEOUT = 5.0
DEFAULT_POLL = 0.01


def _test_config(config: BrokerConfig | None) -> BrokerConfig:
    return config if config is not None else BrokerConfig(port=0)


def vhost_url(
    address: BoundAddress, vhost: str = "/", user: str = "guest", password: str = "guest"
) -> str:
    host = f"[{address.host}]" if ":" in address.host else address.host
    quoted = urllib.parse.quote(vhost, safe="")
    return f"amqp://{user}:{password}@{host}:{address.port}/{quoted}"


async def _start_management(nursery: trio.Nursery, server: BrokerServer) -> str | None:
    """Start the management API beside the server when its config gives a management_port;
    returns the API's base URL (http://127.0.0.1:PORT), or None. It stops with the server."""
    config = server.config
    if config.management_port is None:
        return None
    # Imported only when asked for: the HTTP stack adds ~0.3 s to start-up.
    from amqp_broker.management import serve_management  # noqa: PLC0415

    address = await nursery.start(
        serve_management, server, config.management_port, config.management_host
    )
    return str(address.url)


def _management_port(url: str | None) -> int | None:
    return int(url.rsplit(":", 1)[1]) if url is not None else None


class RunningBroker(BrokerControls):
    """A broker serving in this trio run: its address, URL, the Broker itself, and the test
    controls, called directly (this is the broker's thread)."""

    def __init__(
        self,
        server: BrokerServer,
        address: BoundAddress,
        nursery: trio.Nursery,
        management_url: str | None = None,
    ) -> None:
        self._nursery = nursery
        self._serve(server, address)
        self.management_url = management_url  # set when config.management_port is given

    def _serve(self, server: BrokerServer, address: BoundAddress) -> None:
        self.server = server
        self.broker: Broker = server.broker
        self.address = address
        self.host = address.host
        self.port = address.port

    @property
    def url(self) -> str:
        return vhost_url(self.address)

    def url_for(self, vhost: str) -> str:
        return vhost_url(self.address, vhost)

    def _read(self, fn: Callable[[BrokerServer], T]) -> T:
        return fn(self.server)

    def _change(self, fn: Callable[[BrokerServer], T]) -> T:
        return self.server.apply(lambda: fn(self.server))

    async def wait_for(
        self,
        predicate: Callable[[], T],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        what: str | None = None,
        poll: float = DEFAULT_POLL,
    ) -> T:
        """Return the predicate's first truthy value; raises WaitTimeoutError naming it."""
        with trio.move_on_after(timeout):
            while not (result := predicate()):
                with trio.move_on_after(poll):
                    await self.server.wait_changed()
            return result
        raise wait_timeout(predicate, what, timeout)

    async def restart(self) -> None:
        """Stop the broker (clients get 320 CONNECTION_FORCED) and start a new one on the same
        port and config: what a real restart keeps (durable state, given a data directory)
        is kept; everything in memory is gone."""
        await self.server.shutdown(grace=1.0)
        config = dataclasses.replace(
            self.server.config,
            port=self.port,
            management_port=_management_port(self.management_url),
        )
        server = BrokerServer(config)
        self._serve(server, await self._nursery.start(server.run))
        self.management_url = await _start_management(self._nursery, server)


@asynccontextmanager
async def open_broker(config: BrokerConfig | None = None) -> AsyncIterator[RunningBroker]:
    """Serve a broker on an ephemeral port for the duration of the block (trio code)."""
    server = BrokerServer(_test_config(config))
    async with trio.open_nursery() as nursery:
        address = await nursery.start(server.run)
        management_url = await _start_management(nursery, server)
        running = RunningBroker(server, address, nursery, management_url)
        try:
            yield running
        finally:
            with trio.CancelScope(shield=True):
                await running.server.shutdown(grace=1.0)
            nursery.cancel_scope.cancel()


class BrokerThread(BrokerControls):
    """A broker in a background thread, for sync and asyncio code.

        with BrokerThread() as broker:
            pika.BlockingConnection(pika.URLParameters(broker.url))

    Broker state belongs to the broker's thread: use call() to run a function there (the
    test controls do).

    Given a trio.testing.MockClock (rate=1.0 keeps time flowing), advance_clock() moves the
    broker's time ahead without sleeping: message TTLs, queue expiry and heartbeats follow it.
    """

    def __init__(
        self, config: BrokerConfig | None = None, *, clock: trio.testing.MockClock | None = None
    ) -> None:
        self.config = _test_config(config)
        self.clock = clock
        self._new_server()
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._error: BaseException | None = None
        self.address: BoundAddress | None = None
        self.management_url: str | None = None  # set when config.management_port is given
        # Bumped on the broker's thread after each change; waiters in other threads watch it.
        self._changes = threading.Condition()
        self._version = 0
        self._async_wakers: list[Callable[[], None]] = []

    def _new_server(self) -> None:
        self._server = BrokerServer(self.config)
        self._server.change_listeners.append(self._on_change)
        self.broker = self._server.broker

    def _on_change(self) -> None:
        with self._changes:
            self._version += 1
            self._changes.notify_all()
            wakers = list(self._async_wakers)
        for wake in wakers:
            wake()

    @property
    def port(self) -> int:
        assert self.address is not None, "the broker is not running"
        return self.address.port

    @property
    def host(self) -> str:
        assert self.address is not None, "the broker is not running"
        return self.address.host

    @property
    def url(self) -> str:
        assert self.address is not None, "the broker is not running"
        return vhost_url(self.address)

    def url_for(self, vhost: str) -> str:
        assert self.address is not None, "the broker is not running"
        return vhost_url(self.address, vhost)

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            self.address = await nursery.start(self._server.run)
            self.management_url = await _start_management(nursery, self._server)
            self._started.set()

    def _run(self) -> None:
        try:
            trio.run(self._main, clock=self.clock)
        except BaseException as exc:
            self._error = exc
        finally:
            self._started.set()

    def start(self) -> BrokerThread:
        self._started = threading.Event()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="amqp-broker", daemon=True)
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            raise RuntimeError("the broker thread failed to start") from self._error
        return self

    def call(self, fn: Callable[[], T]) -> T:
        """Run fn() in the broker's thread, between two commands, and return its result;
        then wake the connections it gave output to."""
        return self._change(lambda server: fn())

    def _read(self, fn: Callable[[BrokerServer], T]) -> T:
        assert self._token is not None, "the broker is not running"
        server = self._server
        return trio.from_thread.run_sync(fn, server, trio_token=self._token)

    def _change(self, fn: Callable[[BrokerServer], T]) -> T:
        server = self._server
        return self._read(lambda _: server.apply(lambda: fn(server)))

    def wait_for(
        self,
        predicate: Callable[[], T],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        what: str | None = None,
        poll: float = DEFAULT_POLL,
    ) -> T:
        """Block until the predicate is truthy and return its value; raises WaitTimeoutError
        naming it. The predicate runs in the calling thread."""
        deadline = time.monotonic() + timeout
        while True:
            with self._changes:
                seen = self._version
            if result := predicate():
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise wait_timeout(predicate, what, timeout)
            with self._changes:
                self._changes.wait_for(
                    functools.partial(self._changed_since, seen), min(poll, remaining)
                )

    def _changed_since(self, version: int) -> bool:
        return self._version != version

    async def wait_for_async(
        self,
        predicate: Callable[[], T],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        what: str | None = None,
        poll: float = DEFAULT_POLL,
    ) -> T:
        """wait_for() for asyncio code: the event loop keeps running (and the client with it);
        the predicate runs in the loop's thread."""
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()

        def wake() -> None:
            with suppress(RuntimeError):  # the loop may be closing
                loop.call_soon_threadsafe(changed.set)

        with self._changes:
            self._async_wakers.append(wake)
        try:
            deadline = loop.time() + timeout
            while not (result := predicate()):
                changed.clear()
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise wait_timeout(predicate, what, timeout)
                with suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), min(poll, remaining))
            return result
        finally:
            with self._changes:
                self._async_wakers.remove(wake)

    def advance_clock(self, seconds: float) -> None:
        """Jump the broker's MockClock ahead: what falls due in that time happens now.
        A jump beyond two heartbeat intervals makes the broker drop idle heartbeating clients,
        as it would after that much real time."""
        clock = self.clock
        if clock is None:
            raise RuntimeError("advance_clock needs BrokerThread(clock=trio.testing.MockClock())")
        self._change(lambda server: clock.jump(seconds))

    def restart(self) -> None:
        """Stop the broker (clients get 320 CONNECTION_FORCED) and start a new one on the same
        port and config: what a real restart keeps (durable state, given a data directory)
        is kept; everything in memory is gone."""
        port = self.port
        self.stop()
        self.config = dataclasses.replace(
            self.config, port=port, management_port=_management_port(self.management_url)
        )
        self._new_server()
        self.start()

    def stop(self) -> None:
        if self._thread is None or self._token is None:
            return
        with suppress(trio.RunFinishedError):
            trio.from_thread.run(self._server.shutdown, trio_token=self._token)
        self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> BrokerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


_LISTENING = re.compile(r"listening on (amqp://\S+)")


class BrokerProcess:
    """The broker as a subprocess (`python -m amqp_broker --port 0`), for whole-process tests.

    State is kept in memory unless `data_dir` is given; then the same directory can be used by
    the next BrokerProcess, after a stop or a SIGKILL.
    """

    def __init__(
        self, *args: str, startup_timeout: float = 10.0, data_dir: str | None = None
    ) -> None:
        storage = ("--data-dir", data_dir) if data_dir is not None else ("--in-memory",)
        self.args = (*storage, *args)
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self.port = 0
        self._signalled = False

    def start(self) -> BrokerProcess:
        self._signalled = False
        command = [sys.executable, "-m", "amqp_broker", "--port", str(self.port), *self.args]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.process.stdout is not None
        timer = threading.Timer(self.startup_timeout, self.process.kill)
        timer.start()
        try:
            for line in self.process.stdout:
                match = _LISTENING.search(line)
                if match:
                    self.url = match.group(1)
                    self.port = urllib.parse.urlsplit(self.url).port or 0
                    return self
        finally:
            timer.cancel()
        raise RuntimeError("the broker process exited before listening")

    def restart(self, sig: int = signal.SIGTERM) -> None:
        """Stop the process with `sig` (SIGKILL for a crash) and start it again on the same
        port; with a data_dir, durable state comes back as after a real restart."""
        self.stop(sig)
        self.start()

    def send_signal(self, sig: int = signal.SIGTERM) -> None:
        """Ask the broker to stop (SIGTERM, SIGINT) or kill it (SIGKILL) without waiting."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self._signalled = True

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Signal the process (once) and wait; returns its exit code."""
        if self.process is None:
            return 0
        if not self._signalled:
            self.send_signal(sig)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code

    def __enter__(self) -> BrokerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
