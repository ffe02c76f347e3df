# The brokers a benchmark runs against, each started fresh as its own process on a loopback port:
# ours (`python -m amqp_broker`) and a private RabbitMQ node (interop/rabbitmq_node.py).
#
# Rules kept here:
# - Cold start is launch to the first accepted TCP connection, polled every millisecond; beside
#   it, launch to the first AMQP answer (Connection.Start after the protocol header), since our
#   broker listens before it has loaded (docs/performance.md).
# - Our broker runs byte-compiled, as an installed wheel does (pip compiles at install time):
#   under PYTHONDONTWRITEBYTECODE, set on the development machines, a source checkout would
#   otherwise compile every module at every start (~50 ms of CPU).
# - Memory is the resident set size of the broker's whole process tree (for RabbitMQ: the
#   wrapper, beam.smp and its helpers), read from /proc, so both are counted the same way.
from __future__ import annotations

import compileall
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Protocol

from bench.loadgen import Address
from interop.rabbitmq_node import RabbitMQNode

REPO = Path(__file__).resolve().parent.parent


class Target(Protocol):
    """A broker under test while it runs."""

    name: str
    address: Address
    cold_start: float  # seconds from launch to the first accepted connection
    first_answer: float  # seconds from launch to Connection.Start on a new connection

    def rss(self) -> int:
        """Bytes resident in the broker's processes now."""
        ...

    def stop(self) -> None: ...


def wait_accepting(port: int, timeout: float, process: subprocess.Popen[bytes] | None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"the broker exited with {process.returncode}") from None
            time.sleep(0.001)
    raise RuntimeError(f"nothing accepted on port {port} within {timeout} s")


def wait_answering(port: int, timeout: float) -> None:
    """Return once a new connection gets Connection.Start for its protocol header."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"AMQP\x00\x00\x09\x01")
        if not sock.recv(7, socket.MSG_WAITALL).startswith(b"\x01\x00\x00"):  # channel 0 method
            raise RuntimeError("no Connection.Start")


def compile_broker() -> None:
    """Byte-compile the broker's packages where they are imported from, as pip would."""
    for package in ("amqp_broker", "exchanges"):
        compileall.compile_dir(REPO / package, quiet=1)


def _children(pid: int) -> list[int]:
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found: list[int] = []
    for task in tasks:
        try:
            found += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except OSError:
            continue
    return found


def tree_rss(pid: int) -> int:
    """Resident bytes of `pid` and all its descendants."""
    total = 0
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    break
        except OSError:
            continue
        stack += _children(current)
    return total


class OurBroker:
    """`python -m amqp_broker` with its durable store in a fresh temporary directory."""

    name = "ours"

    def __init__(
        self, data_dir: str | None = None, fsync: str = "always", *, in_memory: bool = False
    ) -> None:
        """With no data_dir the store goes to a fresh temporary directory, removed by stop()."""
        # --port 0 and the port read from the broker's "listening on" line: a port picked here
        # and bound later by the child could be taken in between by anything else on the machine.
        command = [sys.executable, "-m", "amqp_broker", "--port", "0", "--log-level", "error"]
        self.durable_confirms = not in_memory
        self._temporary = None if data_dir or in_memory else tempfile.mkdtemp(prefix="bench-")
        if in_memory:
            command.append("--in-memory")  # the CLI's default is the per-user data directory
        else:
            command += ["--data-dir", data_dir or str(self._temporary), "--fsync", fsync]
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (kept until stop())
        compile_broker()
        started = time.monotonic()
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self._stderr, cwd=REPO
        )
        try:
            port = self._listening_port(started + 30)
            wait_accepting(port, 30, self.process)
            self.cold_start = time.monotonic() - started
            wait_answering(port, 30)
            self.first_answer = time.monotonic() - started
        except BaseException as exc:
            reason = self._stderr_tail()
            self.stop()
            raise RuntimeError(f"our broker did not start: {reason}") from exc
        self.address = Address("127.0.0.1", port)

    def _listening_port(self, deadline: float) -> int:
        """The port in the CLI's first line, `amqp-broker X listening on amqp://...:PORT/`."""
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(max(0.0, deadline - time.monotonic())):
                raise TimeoutError("no 'listening on' line in time")
        line = self.process.stdout.readline().decode("utf-8", "replace")
        if " listening on " not in line:  # EOF: it exited (the reason is on stderr)
            raise RuntimeError(f"first line {line!r}, exit status {self.process.poll()}")
        return urllib.parse.urlsplit(line.rsplit(" ", 1)[1].strip()).port or 0

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()[-2000:].decode("utf-8", "replace").strip() or "(no output)"

    def rss(self) -> int:
        return tree_rss(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)


class RabbitMQ:
    """A private node of Debian's rabbitmq-server (interop/rabbitmq_node.py), default settings.

    Cold start is measured around the helper's start(), which polls every 0.2 s for an AMQP
    handshake: it overstates RabbitMQ's start by up to 0.2 s of its ~5 s."""

    name = "RabbitMQ"

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="bench-rabbitmq-"))
        os.chmod(self.base, 0o755)
        self.node = RabbitMQNode(self.base)
        started = time.monotonic()
        try:
            self.node.start()
        except BaseException:
            self.stop()
            raise
        self.cold_start = time.monotonic() - started
        self.first_answer = self.cold_start  # start() waited for a handshake
        self.address = Address("127.0.0.1", self.node.amqp_port)

    def rss(self) -> int:
        assert self.node.process is not None
        return tree_rss(self.node.process.pid)

    def stop(self) -> None:
        try:
            self.node.stop()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
