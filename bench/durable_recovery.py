# Recovery time: a durable queue holding N small persistent messages (default 1,000,000) is written
# with the broker's own store, then the broker is started on that data directory: in-process
# (Broker construction, which reads everything back) and as the CLI (until it listens).
#
#   .venv/bin/python -m bench.durable_recovery [--messages 1000000] [--size 16]
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pamqp.commands import Basic

from amqp_broker.broker import Broker
from amqp_broker.config import BrokerConfig
from amqp_broker.core.message import Message
from amqp_broker.protocol.codec import encode_properties
from amqp_broker.testing import BrokerProcess


def fill(data_dir: str, messages: int, size: int) -> None:
    broker = Broker(BrokerConfig(data_dir=data_dir, fsync="never"))
    assert broker.store is not None
    vhost = broker.vhosts["/"]
    queue = vhost.declare_queue("recover-me", owner=None, durable=True)
    broker.store.attach(queue)
    broker.store.definitions_changed(vhost)
    properties = Basic.Properties(delivery_mode=2)
    raw = encode_properties(properties)
    for number in range(messages):
        body = number.to_bytes(8, "big") * (size // 8)
        queue.publish(Message("", "recover-me", raw, properties, body))
        if number % 100_000 == 0:
            broker.store.flush()
    broker.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--size", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        fill(data_dir, args.messages, args.size)
        on_disk = sum(path.stat().st_size for path in Path(data_dir).rglob("*") if path.is_file())
        started, cpu_started = time.perf_counter(), time.process_time()
        broker = Broker(BrokerConfig(data_dir=data_dir))
        in_process = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        assert broker.vhosts["/"].queues["recover-me"].ready_count == args.messages
        broker.close()
        started = time.perf_counter()
        with BrokerProcess(data_dir=data_dir, startup_timeout=600):
            as_cli = time.perf_counter() - started
    print(
        f"recover {args.messages:,} messages of {args.size} bytes ({on_disk / 2**20:.0f} MiB on "
        f"disk): Broker() {in_process:.2f} s ({cpu:.2f} s CPU), CLI until listening {as_cli:.2f} s"
    )


if __name__ == "__main__":
    main()
