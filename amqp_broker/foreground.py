# The `amqp-broker` command's server half: run the broker on the sockets the CLI already bound
# until SIGINT/SIGTERM, then stop cleanly (every client gets Connection.Close 320 first).
#
# Kept apart from cli.py so that the command can parse its flags, lock its data directory and
# listen before this module brings in trio and the broker (docs/performance.md, cold start).
from __future__ import annotations

import gc
import logging
import signal
import socket

import trio

from amqp_broker.broker import Broker
from amqp_broker.config import BrokerConfig
from amqp_broker.server import BrokerServer
from amqp_broker.store.directory import DataDirectory

GC_THRESHOLD = 10_000  # allocations between young collections (Python's default: 700)


def load(
    config: BrokerConfig, sockets: list[socket.socket], directory: DataDirectory | None
) -> BrokerServer:
    """The server on the bound sockets; recovers the data directory the CLI locked, keeping its
    lock (StoreError)."""
    return BrokerServer(config, Broker(config, data_directory=directory), sockets=sockets)


async def serve(server: BrokerServer, stop_received: list[int]) -> None:
    """Serve until SIGINT/SIGTERM, or stop at once when `stop_received` already holds one (a
    signal the CLI caught while this was loading)."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            address = await nursery.start(server.run)
            logging.getLogger("amqp_broker").debug("serving on %s", address.url)
            config = server.config
            if config.management_port is not None:
                # Imported only when asked for: the HTTP stack adds ~0.3 s to start-up.
                from amqp_broker.management import serve_management  # noqa: PLC0415

                http = await nursery.start(
                    serve_management, server, config.management_port, config.management_host
                )
                print(f"amqp-broker management API on {http.url}/api/", flush=True)
            if not stop_received:
                async for _ in signals:
                    break
            logging.getLogger("amqp_broker").info("shutting down")
            await server.shutdown()
            nursery.cancel_scope.cancel()


def run(server: BrokerServer, stop_received: list[int]) -> None:
    """Serve until a stop signal. Raises StoreError (in an exception group when the store fails
    while serving) and OSError (the amqps listener cannot open)."""
    # Queued messages are long-lived objects (3-4 per message) that the cyclic collector
    # rescans every 700 allocations by default; this process owns its interpreter, so it
    # collects less often (an embedded broker leaves its host's settings alone).
    gc.set_threshold(GC_THRESHOLD, 10, 10)
    trio.run(serve, server, stop_received)
