# The clients the suite runs, and how to start a driver for each one.
#
# Every driver is a separate program speaking harness.py's protocol, so a client may live in another
# runtime (node) or be a set of command-line tools (rabbitmq-c's amqp-tools).
from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NODE_DIR = REPO / "interop" / "node"


@dataclass(frozen=True)
class Client:
    name: str
    command: tuple[str, ...]

    def argv(self, *args: str) -> list[str]:
        return [*self.command, *args]


def _python(module: str, *args: str) -> tuple[str, ...]:
    return (sys.executable, "-m", f"interop.drivers.{module}", *args)


CLIENTS: tuple[Client, ...] = (
    Client("pika-blocking", _python("pika_blocking")),
    Client("pika-select", _python("pika_callbacks", "select")),
    Client("pika-asyncio", _python("pika_callbacks", "asyncio")),
    Client("aio-pika", _python("aio_pika_driver")),
    Client("aiormq", _python("aiormq_driver")),
    Client("kombu", _python("kombu_driver")),
    Client("celery", _python("celery_driver")),
    Client("amqpstorm", _python("amqpstorm_driver")),
    Client("rabbitpy", _python("rabbitpy_driver")),
    Client("amqplib", ("node", str(NODE_DIR / "suite.js"))),
    Client("amqp-tools", _python("amqp_tools")),
)


def install_node_client() -> str | None:
    """Install amqplib from interop/node/package-lock.json (`npm ci`) unless it is there already.

    Returns None when amqplib is ready, else why it is not (the amqplib column then fails).
    """
    if (NODE_DIR / "node_modules" / "amqplib" / "package.json").exists():
        return None
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        return "node and npm are not installed"
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        return f"npm ci failed: {done.stderr.strip()[-500:]}"
    return None
