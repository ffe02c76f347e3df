# Routing throughput with few and many bindings: publishes per second through a topic and a
# headers exchange, measured in-process (VirtualHost.route, no sockets) and, for topic, end to end
# over pika to a BrokerThread. The requirement checked by eye: topic with 10,000 bindings stays
# within 2x of topic with 10, also when no routing key repeats (the trie walk, not a remembered
# route). Headers routing is indexed by (key, value) and must stay within 2x as well.
#
#   .venv/bin/python bench/routing.py [--route-count N] [--headers-count N] [--e2e-count N]
#                                     [--bindings 10 10000] [--repeat N]
from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import pika

from amqp_broker.core.vhost import QUEUE, Exchange, VirtualHost
from amqp_broker.testing import BrokerThread

QUEUES = 100  # bindings are spread over this many queues
OWNER = object()


def _topic_key(i: int) -> str:
    """Binding i's key; routing key for it replaces "*" with a word."""
    return f"svc{i}.*.event"


def _headers_arguments(i: int) -> dict[str, object]:
    return {"x-match": "all", "service": f"svc{i}", "kind": "event"}


def _build(vhost: VirtualHost, type_name: str, bindings: int) -> Exchange:
    """An exchange with `bindings` bindings spread over QUEUES queues (in the vhost's thread)."""
    exchange = vhost.declare_exchange("bench", type_name)
    for q in range(min(QUEUES, bindings)):
        vhost.declare_queue(f"q{q}", owner=OWNER)
    for i in range(bindings):
        destination = (QUEUE, f"q{i % QUEUES}")
        if type_name == "topic":
            vhost.bind("bench", destination, _topic_key(i), None, OWNER)
        else:
            vhost.bind("bench", destination, "", _headers_arguments(i), OWNER)
    return exchange


def _best_rate(count: int, repeat: int, run: Callable[[], None]) -> float:
    """The best of `repeat` runs of `count` publishes, in publishes per second."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return count / best


def route_rate(
    type_name: str, bindings: int, count: int, repeat: int, *, distinct: bool = False
) -> float:
    """Topic keys: at most 97 distinct ones in turn, whose routes the topic exchange remembers
    after the first; with `distinct` no key repeats (the middle word varies), which measures the
    trie walk itself."""
    vhost = VirtualHost("bench")
    exchange = _build(vhost, type_name, bindings)
    # each message matches exactly one binding, chosen across the whole range
    step = max(1, bindings // 97)
    targets = [(j * step) % bindings for j in range(count)]
    if type_name == "topic":
        if distinct:
            keys = [f"svc{t}.m{j}.event" for j, t in enumerate(targets)]
        else:
            keys = [f"svc{targets[j % 97]}.eu.event" for j in range(count)]

        def run() -> None:
            for key in keys:
                assert vhost.route(exchange, key, None)

    else:
        headers = [{"service": f"svc{t}", "kind": "event"} for t in targets]

        def run() -> None:
            for table in headers:
                assert vhost.route(exchange, "", table)

    return _best_rate(count, repeat, run)


def e2e_topic_rate(broker: BrokerThread, bindings: int, count: int, repeat: int) -> float:
    name = f"bench-{bindings}"

    def setup() -> None:
        _build(broker.broker.add_vhost(name), "topic", bindings)

    broker.call(setup)
    step = max(1, bindings // 97)
    keys = [f"svc{(j * step) % bindings}.eu.event" for j in range(count)]
    with pika.BlockingConnection(pika.URLParameters(broker.url_for(name))) as connection:
        channel = connection.channel()

        def run() -> None:
            for key in keys:
                channel.basic_publish("bench", key, b"x")
            # a synchronous command completes only after every publish before it was routed
            channel.queue_declare("q0", passive=True)
            for q in range(min(QUEUES, bindings)):
                channel.queue_purge(f"q{q}")

        return _best_rate(count, repeat, run)


def main() -> None:
    parser = argparse.ArgumentParser(description="Routing publishes/s with few and many bindings")
    parser.add_argument("--route-count", type=int, default=20_000, help="in-process publishes")
    parser.add_argument(
        "--headers-count", type=int, default=20000, help="in-process headers publishes"
    )
    parser.add_argument("--e2e-count", type=int, default=5_000, help="publishes over pika")
    parser.add_argument("--bindings", type=int, nargs=2, default=[10, 10_000], metavar="N")
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell; best is kept")
    args = parser.parse_args()
    few, many = args.bindings

    rows: list[tuple[str, float, float]] = []
    for type_name, count in (("topic", args.route_count), ("headers", args.headers_count)):
        low = route_rate(type_name, few, count, args.repeat)
        high = route_rate(type_name, many, count, args.repeat)
        rows.append((f"{type_name} VirtualHost.route", low, high))
        if type_name == "topic":
            low = route_rate(type_name, few, count, args.repeat, distinct=True)
            high = route_rate(type_name, many, count, args.repeat, distinct=True)
            rows.append(("topic, no key repeats", low, high))
    with BrokerThread() as broker:
        low = e2e_topic_rate(broker, few, args.e2e_count, args.repeat)
        high = e2e_topic_rate(broker, many, args.e2e_count, args.repeat)
        rows.append(("topic pika end-to-end", low, high))

    print(f"{'publishes/s':<26}{few:>14,}{many:>14,}  slowdown {few:,}->{many:,}")
    for label, low, high in rows:
        print(f"{label:<26}{low:>14,.0f}{high:>14,.0f}  {low / high:>8.2f}x")
    print("requirement: topic and headers slowdown within 2x")


if __name__ == "__main__":
    main()
