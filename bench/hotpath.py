# The broker's own cost per message, without sockets or trio: pre-encoded publishes are fed to
# Broker.receive() in 64 KiB pieces, a consumer connection's output is taken after each piece,
# and the deliveries are checked. Less noisy than the socket benchmarks on a shared machine,
# so it is the before/after number for hot-path changes.
#
#   .venv/bin/python -m bench.hotpath [--messages 50000] [--size 16] [--repeat 3]
#                                     [--ack | --priority | --publish-only]
from __future__ import annotations

import argparse
import os
import time

from pamqp import commands, frame

from amqp_broker.broker import Broker, ClientConnection
from amqp_broker.config import BrokerConfig
from bench.wire import (
    DeliveryScanner,
    PublishTemplate,
    ack_frame,
    encode_properties,
    publish_prefix,
)

CHUNK = 65536


def _open(broker: Broker, extra: list[object]) -> ClientConnection:
    conn = broker.new_connection("127.0.0.1:1", True, 0.0)
    data = b"AMQP\x00\x00\x09\x01"
    for method in [
        commands.Connection.StartOk(
            client_properties={}, mechanism="PLAIN", response="\0guest\0guest", locale="en_US"
        ),
        commands.Connection.TuneOk(channel_max=2047, frame_max=131072, heartbeat=0),
        commands.Connection.Open(virtual_host="/"),
    ]:
        data += frame.marshal(method, 0)
    data += frame.marshal(commands.Channel.Open(), 1)
    for method in extra:
        data += frame.marshal(method, 1)  # type: ignore[arg-type]
    broker.receive(conn, data, 0.0)
    conn.protocol.data_to_send()
    return conn


def run(messages: int, size: int, mode: str) -> float:
    """CPU seconds of broker work per message, publish to delivery (mode "no-ack", "ack",
    "priority": x-max-priority 10, priorities 0-9 in turn, acks) or into a queue without
    consumers ("publish-only")."""
    broker = Broker(BrokerConfig(port=0))
    ack = mode in ("ack", "priority")
    arguments = {"x-max-priority": 10} if mode == "priority" else {}
    setup: list[object] = [commands.Queue.Declare(queue="q", arguments=arguments)]
    if mode != "publish-only":
        setup += [
            commands.Basic.Qos(prefetch_count=100 if ack else 0),
            commands.Basic.Consume(queue="q", consumer_tag="c", no_ack=not ack),
        ]
    consumer = _open(broker, setup)
    publisher = _open(broker, [])
    priorities = range(10) if mode == "priority" else [None]
    template = PublishTemplate(
        [publish_prefix(1, "", "q", encode_properties(priority=p), size) for p in priorities],
        size,
    )
    stream = template.batch(0, messages)
    scanner = DeliveryScanner([1])
    started = time.process_time()  # CPU time: the shared machine's load does not count
    for start in range(0, len(stream), CHUNK):
        broker.receive(publisher, stream[start : start + CHUNK], 0.0)
        while out := consumer.protocol.data_to_send():
            scanner.feed(out)
            broker.output_drained(consumer)
            if ack and scanner.last_tag[1]:
                broker.receive(consumer, ack_frame(1, scanner.last_tag[1]), 0.0)
    elapsed = time.process_time() - started
    if mode == "publish-only":
        held = broker.vhosts["/"].queues["q"].ready_count
        if held != messages:
            raise RuntimeError(f"the queue holds {held} of {messages}")
        return elapsed / messages
    received = scanner.seqs[1]
    if mode == "priority":
        in_order = all(
            [s for s in received if s % 10 == level] == list(range(level, messages, 10))
            for level in range(10)
        )
    else:
        in_order = received == list(range(messages))
    if not in_order or scanner.problem:
        raise RuntimeError(f"deliveries went wrong: {scanner.problem or 'order'}")
    return elapsed / messages


def main() -> None:
    parser = argparse.ArgumentParser(description="Broker CPU per message, in process")
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--size", type=int, default=16)
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--ack", action="store_true", help="manual acks, prefetch 100")
    modes.add_argument(
        "--priority", action="store_true", help="x-max-priority 10, priorities 0-9, acks"
    )
    modes.add_argument("--publish-only", action="store_true", help="no consumer")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    mode = (
        "ack"
        if args.ack
        else "priority"
        if args.priority
        else "publish-only"
        if args.publish_only
        else "no-ack"
    )
    best = min(run(args.messages, args.size, mode) for _ in range(args.repeat))
    print(
        f"{best * 1e6:.2f} us per message ({1 / best:,.0f} msg/s of one core), "
        f"{args.size} B, {mode}; load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
