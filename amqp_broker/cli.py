# The `amqp-broker` command: parse flags, run the server, print where it listens, stop cleanly on
# SIGINT/SIGTERM (every client gets Connection.Close 320 first).
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import trio

from amqp_broker import __version__
from amqp_broker.config import BrokerConfig
from amqp_broker.protocol.fieldscan import TableLimits
from amqp_broker.server import BrokerServer
from amqp_broker.store import StoreError


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


async def run(config: BrokerConfig) -> None:
    server = BrokerServer(config)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            address = await nursery.start(server.run)
            print(f"amqp-broker {__version__} listening on {address.url}", flush=True)
            if config.management_port is not None:
                # Imported only when asked for: the HTTP stack adds ~0.3 s to start-up.
                from amqp_broker.management import serve_management  # noqa: PLC0415

                http = await nursery.start(
                    serve_management, server, config.management_port, config.management_host
                )
                print(f"amqp-broker management API on {http.url}/api/", flush=True)
            async for _ in signals:
                logging.getLogger("amqp_broker").info("shutting down")
                await server.shutdown()
                nursery.cancel_scope.cancel()
                break


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
    try:
        trio.run(run, config)
    except StoreError as exc:  # the data directory could not be opened
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
