# The brokers a benchmark runs against, each started fresh as its own process on a loopback port:
# ours (`python -m amqp_broker`) and a private RabbitMQ node (interop/rabbitmq_node.py).
#
# Rules kept here:
# - Cold start is launch to the first accepted TCP connection, polled every millisecond.
# - Memory is the resident set size of the broker's whole process tree (for RabbitMQ: the
#   wrapper, beam.smp and its helpers), read from /proc, so both are counted the same way.
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Protocol

from bench.loadgen import Address

REPO = Path(__file__).resolve().parent.parent


class Target(Protocol):
    """A broker under test while it runs."""

    name: str
    address: Address
    cold_start: float  # seconds from launch to the first accepted connection
    durable_confirms: bool  # persistent messages are confirmed after they are on disk

    def rss(self) -> int:
        """Bytes resident in the broker's processes now."""
        ...

    def stop(self) -> None: ...


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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


def our_broker_has_store() -> bool:
    """Issue 6 adds --data-dir; until then persistent messages are not written anywhere."""
    help_text = subprocess.run(
        [sys.executable, "-m", "amqp_broker", "--help"], capture_output=True, text=True, check=False
    ).stdout
    return "--data-dir" in help_text


class OurBroker:
    name = "ours"

    def __init__(self, data_dir: str | None = None, fsync: str = "always") -> None:
        port = free_port()
        command = [sys.executable, "-m", "amqp_broker", "--port", str(port), "--log-level", "error"]
        self.durable_confirms = data_dir is not None
        if data_dir is not None:
            command += ["--data-dir", data_dir, "--fsync", fsync]
        else:
            command.append("--in-memory")  # the CLI's default is the per-user data directory
        started = time.monotonic()
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO
        )
        try:
            wait_accepting(port, 30, self.process)
        except BaseException:
            self.stop()
            raise
        self.cold_start = time.monotonic() - started
        self.address = Address("127.0.0.1", port)

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
