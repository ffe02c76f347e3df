# Run every scenario against our broker alone and print the measurements, with the load
# generator's own ceiling and the machine's load. bench/compare puts RabbitMQ beside it.
#
#   .venv/bin/python -m bench.run [--quick] [--only publish e2e ...]
from __future__ import annotations

import argparse
import os

from bench.brokers import OurBroker
from bench.loadgen import consumer_ceiling, publisher_ceiling
from bench.scenarios import Measurement, Plan, Scale, run_all


def print_ceiling(count: int) -> None:
    for size in (16, 1024):
        publish = publisher_ceiling(count, size)
        consume = consumer_ceiling(count, size)
        print(
            f"load generator ceiling ({size} B): publish {publish:,.0f} msg/s, "
            f"consume {consume:,.0f} msg/s (counting sink / blasting source)"
        )


def print_measurement(m: Measurement) -> None:
    flag = "" if m.ok else "  FAILED"
    detail = f"  [{m.detail}]" if m.detail else ""
    print(f"{m.scenario:<58}{m.value:>14,.2f} {m.unit}{flag}{detail}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark scenarios against our broker")
    parser.add_argument("--quick", action="store_true", help="tiny counts: a smoke run")
    parser.add_argument("--only", nargs="*", default=(), help="scenario keys to run")
    args = parser.parse_args()
    scale = Scale.quick() if args.quick else Scale()
    print(f"load average {os.getloadavg()}")
    print_ceiling(2_000 if args.quick else 200_000)
    broker = OurBroker()
    try:
        run_all(broker, Plan(scale, tuple(args.only)), print_measurement)
    finally:
        broker.stop()
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
