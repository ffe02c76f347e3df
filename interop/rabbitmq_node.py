"""Start and stop a private RabbitMQ node on loopback ports, for differential tests and benchmarks.

Debian's rabbitmq-server package installs RabbitMQ but never starts it on these machines (no init
system). A node of our own needs its own directory for the database, logs, config and Erlang
cookie, its own node name and its own ports, so that several can run beside each other and beside a
system node. Everything here is the standard library, so the interop suite, the benchmarks and the
project's tests can all import it (or run it as a command).

    python interop/rabbitmq_node.py run -- pytest interop     # AMQP_URL points at the node
    python interop/rabbitmq_node.py start --management        # prints JSON; node keeps running
    python interop/rabbitmq_node.py stop --dir DIR

The scripts under /usr/lib/rabbitmq/bin are called directly rather than through /usr/sbin's
wrapper, which would switch to the rabbitmq user and lose HOME (where the Erlang cookie lives).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
START_TIMEOUT = 90.0
_names = itertools.count(1)


def available() -> bool:
    """Whether RabbitMQ is installed where Debian's package puts it."""
    return (RABBITMQ_BIN / "rabbitmq-server").exists()


def free_port() -> int:
    """An ephemeral port that was free a moment ago (the node binds it a few seconds later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _amqp_handshake_ok(port: int) -> bool:
    """RabbitMQ answers the protocol header with connection.start once it is really up."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2.0) as sock:
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            return sock.recv(1) == b"\x01"  # a method frame
    except OSError:
        return False


@dataclass
class RabbitMQNode:
    """One private node. `start()` returns once it accepts AMQP (and HTTP, with management)."""

    base: Path
    amqp_port: int = field(default_factory=free_port)
    management_port: int | None = None
    dist_port: int = field(default_factory=free_port)
    nodename: str = field(default_factory=lambda: f"ref{os.getpid()}n{next(_names)}@localhost")
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    @property
    def management_url(self) -> str | None:
        if self.management_port is None:
            return None
        return f"http://127.0.0.1:{self.management_port}"

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            HOME=str(self.base),
            RABBITMQ_NODENAME=self.nodename,
            RABBITMQ_CONFIG_FILE=str(self.base / "rabbitmq"),
            RABBITMQ_MNESIA_BASE=str(self.base / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.base / "log"),
            RABBITMQ_FEATURE_FLAGS_FILE=str(self.base / "mnesia" / "feature_flags"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.base / "enabled_plugins"),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_PID_FILE=str(self.base / "rabbitmq.pid"),
        )
        return env

    def _write_files(self) -> None:
        (self.base / "mnesia").mkdir(parents=True, exist_ok=True)
        (self.base / "log").mkdir(parents=True, exist_ok=True)
        lines = [
            f"listeners.tcp.default = 127.0.0.1:{self.amqp_port}",
            "loopback_users = none",
        ]
        plugins = "[]."
        if self.management_port is not None:
            plugins = "[rabbitmq_management]."
            lines += [
                f"management.tcp.port = {self.management_port}",
                "management.tcp.ip = 127.0.0.1",
            ]
        (self.base / "rabbitmq.conf").write_text("\n".join(lines) + "\n")
        (self.base / "enabled_plugins").write_text(plugins + "\n")
        (self.base / "node.json").write_text(json.dumps(self.describe()))

    def describe(self) -> dict[str, object]:
        return {
            "dir": str(self.base),
            "nodename": self.nodename,
            "url": self.url,
            "amqp_port": self.amqp_port,
            "management_url": self.management_url,
            "dist_port": self.dist_port,
        }

    def start(self, timeout: float = START_TIMEOUT) -> None:
        if not available():
            raise RuntimeError("rabbitmq-server is not installed (bash scripts/system-deps.sh)")
        self._write_files()
        log = (self.base / "log" / "console.log").open("ab")
        self.process = subprocess.Popen(
            [str(RABBITMQ_BIN / "rabbitmq-server")],
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop() can take all of it
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited early; see {self.base / 'log'}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"rabbitmq-server not ready in {timeout} s")
            time.sleep(0.2)

    def _ready(self) -> bool:
        if not _amqp_handshake_ok(self.amqp_port):
            return False
        return self.management_port is None or _accepts(self.management_port)

    def stop(self) -> None:
        """Stop the node (rabbitmqctl stop, then the process group), keep nothing running."""
        subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.nodename, "stop"],
            env=self.environment(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )
        pid = self.process.pid if self.process is not None else _read_pid(self.base)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=30)


def _read_pid(base: Path) -> int | None:
    """The group leader's pid, for `stop` from another process (written by `start`)."""
    try:
        return int((base / "launcher.pid").read_text())
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def running_rabbitmq(management: bool = False) -> Iterator[RabbitMQNode]:
    """A node for the duration of a `with` block; its directory is removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="rabbitmq-node-"))
    node = RabbitMQNode(base, management_port=free_port() if management else None)
    try:
        node.start()
        yield node
    finally:
        node.stop()
        shutil.rmtree(base, ignore_errors=True)


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    start = verbs.add_parser("start", help="start a node and print its JSON description")
    start.add_argument("--dir", type=Path, help="node directory (default: a new temp dir)")
    start.add_argument("--port", type=int, help="AMQP port (default: a free one)")
    start.add_argument("--management", action="store_true", help="enable the management plugin")
    start.add_argument("--management-port", type=int)
    stop = verbs.add_parser("stop", help="stop the node started in DIR and remove DIR")
    stop.add_argument("--dir", type=Path, required=True)
    run = verbs.add_parser("run", help="start a node, run a command with AMQP_URL set, stop")
    run.add_argument("--management", action="store_true")
    run.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    if args.verb == "start":
        base = args.dir or Path(tempfile.mkdtemp(prefix="rabbitmq-node-"))
        base.mkdir(parents=True, exist_ok=True)
        node = RabbitMQNode(base)
        if args.port:
            node.amqp_port = args.port
        if args.management or args.management_port:
            node.management_port = args.management_port or free_port()
        node.start()
        assert node.process is not None
        (base / "launcher.pid").write_text(str(node.process.pid))
        print(json.dumps(node.describe()))
        return 0
    if args.verb == "stop":
        described = json.loads((args.dir / "node.json").read_text())
        node = RabbitMQNode(
            args.dir, amqp_port=described["amqp_port"], nodename=described["nodename"]
        )
        node.stop()
        shutil.rmtree(args.dir, ignore_errors=True)
        return 0
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        parser.error("run needs a command")
    with running_rabbitmq(management=args.management) as node:
        env = dict(os.environ, AMQP_URL=node.url)
        if node.management_url:
            env["RABBITMQ_MANAGEMENT_URL"] = node.management_url
        return subprocess.run(command, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(_main())
