# Confirmed persistent publishing to a durable queue: messages/s and confirm latency (p50, p99),
# with the store's fsync policy "always", "never", and no store at all (--in-memory) for
# comparison. The broker runs as a subprocess on a fresh data directory; the publisher is aio-pika
# with a window of unconfirmed publishes in flight. Prints one line per configuration.
#
#   python bench/durable_publish.py [--messages 20000] [--window 256] [--size 64]
from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time

import aio_pika

from amqp_broker.testing import BrokerProcess


async def publish(url: str, messages: int, window: int, size: int) -> tuple[float, list[float]]:
    connection = await aio_pika.connect(url)
    channel = await connection.channel(publisher_confirms=True)
    await channel.declare_queue("bench-durable", durable=True)
    body = b"x" * size
    slots = asyncio.Semaphore(window)
    latencies: list[float] = []

    async def one() -> None:
        async with slots:
            started = time.perf_counter()
            await channel.default_exchange.publish(
                aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key="bench-durable",
            )
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(messages)))
    elapsed = time.perf_counter() - started
    await connection.close()
    return elapsed, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    for label, options in (
        ("fsync=always", ("--fsync", "always")),
        ("fsync=never", ("--fsync", "never")),
        ("in memory", ()),
    ):
        with tempfile.TemporaryDirectory() as data_dir:
            store = data_dir if options else None
            with BrokerProcess(*options, data_dir=store) as broker:
                elapsed, latencies = asyncio.run(
                    publish(broker.url, args.messages, args.window, args.size)
                )
        quantiles = statistics.quantiles(latencies, n=100)
        print(
            f"{label:13} {args.messages / elapsed:8,.0f} msg/s  confirm latency "
            f"p50 {quantiles[49] * 1000:6.1f} ms  p99 {quantiles[98] * 1000:6.1f} ms  "
            f"(window {args.window}, {args.size}-byte bodies)"
        )


if __name__ == "__main__":
    main()
