# Confirmed persistent publishing to a durable queue: messages/s and confirm latency (p50, p99)
# with the store's fsync policy "always", "never", and without a store (--in-memory), to show what
# durability costs. One publisher keeps a window of unconfirmed publishes in flight over a raw
# socket (bench/wire.py: nothing is decoded per message), timing each publish from its send to the
# basic.ack that covers it. Prints one line per configuration.
#
#   .venv/bin/python -m bench.durable_publish [--messages 50000] [--window 1000] [--size 64]
from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import time

from pamqp import commands

from bench.brokers import OurBroker
from bench.wire import (
    ConfirmTracker,
    PublishTemplate,
    WireConnection,
    encode_properties,
    publish_prefix,
)

QUEUE = "bench-durable-publish"
BATCH = 50  # publishes per send


def publish(broker: OurBroker, messages: int, window: int, size: int) -> tuple[float, list[float]]:
    """(seconds for all confirms, per-message confirm latencies in seconds)."""
    conn = WireConnection(broker.address.host, broker.address.port)
    conn.open_channel(1)
    conn.rpc(1, commands.Queue.Declare(queue=QUEUE, durable=True), commands.Queue.DeclareOk)
    conn.rpc(1, commands.Confirm.Select(), commands.Confirm.SelectOk)
    template = PublishTemplate(
        [publish_prefix(1, "", QUEUE, encode_properties(delivery_mode=2), size)], size
    )
    sock = conn.sock
    tracker = ConfirmTracker()
    tracker.feed(bytes(conn.pending))
    sent_at: list[float] = []
    latencies: list[float] = []
    sent = 0
    started = time.perf_counter()
    while tracker.confirmed < messages and not tracker.problem:
        room = window - (sent - tracker.confirmed)
        if sent < messages and room > 0:
            upto = min(sent + min(BATCH, room), messages)
            sock.sendall(template.batch(sent, upto))
            now = time.perf_counter()
            sent_at.extend(now for _ in range(sent, upto))
            sent = upto
            try:
                data = sock.recv(1 << 18, socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
        else:
            data = sock.recv(1 << 18)
        if not data:
            raise RuntimeError("the broker closed the connection")
        before = tracker.confirmed
        tracker.feed(data)
        now = time.perf_counter()
        latencies.extend(now - sent_at[seq] for seq in range(before, tracker.confirmed))
    elapsed = time.perf_counter() - started
    if tracker.problem:
        raise RuntimeError(tracker.problem)
    conn.rpc(1, commands.Queue.Delete(queue=QUEUE), commands.Queue.DeleteOk)
    conn.close()
    return elapsed, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description="Confirmed persistent publishing")
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()}")
    for label, fsync in (("fsync=always", "always"), ("fsync=never", "never"), ("in memory", "")):
        with tempfile.TemporaryDirectory() as data_dir:
            broker = OurBroker(data_dir, fsync=fsync) if fsync else OurBroker(in_memory=True)
            try:
                elapsed, latencies = publish(broker, args.messages, args.window, args.size)
            finally:
                broker.stop()
        quantiles = statistics.quantiles(latencies, n=100)
        print(
            f"{label:13} {args.messages / elapsed:8,.0f} msg/s  confirm latency "
            f"p50 {quantiles[49] * 1000:6.1f} ms  p99 {quantiles[98] * 1000:6.1f} ms  "
            f"({args.window} in flight, {args.size}-byte bodies)",
            flush=True,
        )


if __name__ == "__main__":
    main()
