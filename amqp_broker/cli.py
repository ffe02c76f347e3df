# The `amqp-broker` command: parse flags, lock the data directory, listen, say where, then load
# and run the server (foreground.py) until SIGINT/SIGTERM.
#
# Cold start (docs/performance.md): everything before the "listening on" line uses the standard
# library and light modules only; trio and the broker (~0.1 s of imports) load after it. A client
# connecting meanwhile waits in the listen backlog and is answered once the broker has loaded.
# Errors in the flags, the config file, the data directory's lock and format, and the port are
# still reported before that line (one line on stderr, a non-zero exit status); an unreadable
# store or TLS certificate only once the broker loads them, after it.
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from amqp_broker.config import BrokerConfig
from amqp_broker.listeners import bind_tcp, bound_address
from amqp_broker.protocol.fieldscan import TableLimits
from amqp_broker.store.directory import DataDirectory, StoreError, check_fsync
from amqp_broker.version import __version__


def default_data_dir() -> Path:
    """The per-user place durable state lives when --data-dir is not given (XDG layout)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "trio-amqp-broker"


def _first_store_error(group: BaseExceptionGroup[BaseException]) -> StoreError | None:
    """The StoreError inside the exception groups trio's nurseries wrap errors in, if any."""
    matching: BaseException | None = group.subgroup(StoreError)
    while isinstance(matching, BaseExceptionGroup):
        matching = matching.exceptions[0]
    return matching if isinstance(matching, StoreError) else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amqp-broker",
        description="An AMQP 0-9-1 broker that RabbitMQ clients talk to. "
        "`amqp-broker ctl --help` lists the admin verbs.",
    )
    parser.add_argument(
        "--config", metavar="FILE", help="TOML file: users, permissions, limits, TLS (flags win)"
    )
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (0: any free; default 5672)")
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="logging verbosity",
    )
    parser.add_argument("--heartbeat", type=int, help="heartbeat offered, seconds (default 60)")
    storage = parser.add_mutually_exclusive_group()
    storage.add_argument(
        "--data-dir",
        help="where durable exchanges, queues, bindings and persistent messages are kept "
        f"(default: {default_data_dir()})",
    )
    storage.add_argument(
        "--in-memory",
        action="store_true",
        help="keep everything in memory: nothing survives a restart",
    )
    parser.add_argument(
        "--fsync",
        choices=["always", "never"],
        help="always (the default): confirm persistent messages only after fsync (survives "
        "power loss); never: skip fsync (survives a crash of the broker, not of the machine)",
    )
    parser.add_argument(
        "--management-port",
        type=int,
        default=None,
        help="serve RabbitMQ's management HTTP API and /metrics on this port (0: any free)",
    )
    parser.add_argument(
        "--management-host", help="address of the management listener (default 127.0.0.1)"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


class Stopping(BaseException):
    """A stop signal arrived while the broker was loading: exit without serving."""


class EarlySignals:
    """SIGINT/SIGTERM after the "listening on" line, before trio's signal handling is in place.

    A client may already wait on the socket, so a stop is never the default silent kill. While
    the broker loads (`interrupting`), a signal raises Stopping, as Python's SIGINT would; from
    the moment the server runs it is only recorded, and the server shuts down cleanly at once.
    """

    def __init__(self) -> None:
        self.received: list[int] = []
        self.interrupting = True
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, self._handle)

    def _handle(self, number: int, frame: FrameType | None) -> None:
        self.received.append(number)
        if self.interrupting:
            raise Stopping


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["ctl"]:  # admin verbs: a client of the management API, not a server
        # imported only here: urllib/http/email cost the server's cold start ~40 ms otherwise
        from amqp_broker import ctl  # noqa: PLC0415

        return ctl.main(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        if args.config:
            # tomllib and the config checks only when a file is given (cold start)
            from amqp_broker.config_file import load_config  # noqa: PLC0415

            config = load_config(args.config)
        else:
            config = BrokerConfig()
        # refused here, before anything starts, rather than as a traceback from Broker()
        TableLimits(config.max_table_depth, config.max_table_decode_cost)
    except (OSError, ValueError) as exc:
        print(f"amqp-broker: bad --config: {exc}", file=sys.stderr)
        return 2
    if args.in_memory:
        data_dir = None
    else:
        data_dir = args.data_dir or config.data_dir or str(default_data_dir())
    flags = {
        "host": args.host,
        "port": args.port,
        "heartbeat": args.heartbeat,
        "fsync": args.fsync,
        "management_port": args.management_port,
        "management_host": args.management_host,
    }
    config = dataclasses.replace(
        config, data_dir=data_dir, **{k: v for k, v in flags.items() if v is not None}
    )
    return _run(config)


def _listen(config: BrokerConfig) -> tuple[DataDirectory | None, list[socket.socket]]:
    """Check the data directory and bind the port, in the order the broker itself would."""
    directory = None
    if config.data_dir is not None:
        check_fsync(config.fsync)
        directory = DataDirectory.open(config.data_dir)
    try:
        return directory, bind_tcp(config.host, config.port)
    except BaseException:
        if directory is not None:
            directory.close()
        raise


def _run(config: BrokerConfig) -> int:
    try:
        directory, sockets = _listen(config)
    except StoreError as exc:
        print(f"amqp-broker: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"amqp-broker: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
    try:
        early = EarlySignals()
        print(f"amqp-broker {__version__} listening on {bound_address(sockets[0]).url}", flush=True)
        # trio and the broker: imported once the port listens (the point of the split)
        from amqp_broker import foreground  # noqa: PLC0415

        # The broker takes the locked directory over: a second broker on the same directory
        # has already failed with a one-line error, and the lock is never let go in between.
        server = foreground.load(config, sockets, directory)
        early.interrupting = False
        foreground.run(server, early.received)
    except Stopping:
        return 0
    except StoreError as exc:  # the data directory could not be opened or recovered
        print(f"amqp-broker: {exc}", file=sys.stderr)
        return 2
    except BaseExceptionGroup as group:  # the store failed while serving
        failure = _first_store_error(group)
        if failure is None:
            raise
        print(f"amqp-broker: {failure}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"amqp-broker: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
    return 0
