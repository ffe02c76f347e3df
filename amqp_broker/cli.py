# The `amqp-broker` command: parse flags, run the server, print where it listens, stop cleanly on
# SIGINT/SIGTERM (every client gets Connection.Close 320 first).
from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence

import trio

from amqp_broker import __version__
from amqp_broker.config import BrokerConfig
from amqp_broker.server import BrokerServer


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amqp-broker", description="An AMQP 0-9-1 broker that RabbitMQ clients talk to."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=5672, help="port to listen on (0: any free)")
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="logging verbosity",
    )
    parser.add_argument("--heartbeat", type=int, default=60, help="heartbeat offered, seconds")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


async def run(config: BrokerConfig) -> None:
    server = BrokerServer(config)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            address = await nursery.start(server.run)
            print(f"amqp-broker {__version__} listening on {address.url}", flush=True)
            async for _ in signals:
                logging.getLogger("amqp_broker").info("shutting down")
                await server.shutdown()
                nursery.cancel_scope.cancel()
                break


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = BrokerConfig(host=args.host, port=args.port, heartbeat=args.heartbeat)
    try:
        trio.run(run, config)
    except OSError as exc:
        print(f"amqp-broker: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0
