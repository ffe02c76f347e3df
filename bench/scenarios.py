# The benchmark scenarios. Each sets up its topology over AMQP (the same for any broker), runs a
# flow through the load generator, checks every message arrived exactly once (and in order where
# the broker promises order), tears the topology down, and returns its measurements.
#
# A measurement whose check failed is reported with ok=False and never counted as a result.
from __future__ import annotations

import itertools
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pamqp import commands

from bench.brokers import Target
from bench.loadgen import Address, ConsumerSpec, FlowResult, PublisherSpec, run_flow
from bench.wire import WireConnection

SIZES = (16, 1024)
FANOUT_QUEUES = 10
TOPIC_BINDINGS = 1000
TOPIC_QUEUES = 10
MAX_PRIORITY = 10
LATENCY_RATE = 1000.0


@dataclass
class Measurement:
    scenario: str
    value: float
    unit: str
    higher_is_better: bool
    ok: bool = True
    detail: str = ""


@dataclass
class Scale:
    """Message counts per scenario; `quick()` for the smoke test."""

    throughput: int = 50_000
    fanout: int = 10_000  # per queue: deliveries are 10x this
    latency_seconds: float = 3.0
    idle_connections: int = 1000
    queued_messages: int = 1_000_000
    sizes: tuple[int, ...] = SIZES

    @classmethod
    def quick(cls) -> Scale:
        return cls(
            throughput=300,
            fanout=50,
            latency_seconds=0.1,
            idle_connections=10,
            queued_messages=2000,
            sizes=SIZES,
        )


_names = itertools.count()


def _name(kind: str) -> str:
    return f"bench.{kind}.{os.getpid()}.{next(_names)}"


class Admin:
    """Set-up and tear-down over one connection and channel."""

    def __init__(self, address: Address) -> None:
        self.conn = address.connect()
        self.conn.open_channel(1)

    def queue(
        self, name: str, *, durable: bool = False, arguments: dict[str, Any] | None = None
    ) -> None:
        self.conn.rpc(
            1,
            commands.Queue.Declare(queue=name, durable=durable, arguments=arguments or {}),
            commands.Queue.DeclareOk,
        )

    def exchange(self, name: str, kind: str) -> None:
        self.conn.rpc(
            1,
            commands.Exchange.Declare(exchange=name, exchange_type=kind),
            commands.Exchange.DeclareOk,
        )

    def bind(self, queue: str, exchange: str, key: str) -> None:
        # nowait: 1,000 bindings would otherwise cost 1,000 round trips; the next rpc orders them
        self.conn.send(
            1, commands.Queue.Bind(queue=queue, exchange=exchange, routing_key=key, nowait=True)
        )

    def sync(self) -> None:
        """Returns once the broker applied everything sent before on this channel (the nowait
        binds): a broker handles a channel's methods in order."""
        self.conn.rpc(
            1,
            commands.Exchange.Declare(exchange="amq.direct", passive=True),
            commands.Exchange.DeclareOk,
        )

    def delete_queue(self, name: str) -> None:
        self.conn.rpc(1, commands.Queue.Delete(queue=name), commands.Queue.DeleteOk)

    def delete_exchange(self, name: str) -> None:
        self.conn.rpc(1, commands.Exchange.Delete(exchange=name), commands.Exchange.DeleteOk)

    def close(self) -> None:
        self.conn.close()


# ---- checks -----------------------------------------------------------------------------------


def check_delivered(
    got: list[int], expected: list[int], ordered: bool, order_class: Callable[[int], int] | None
) -> str:
    """'' if `got` is exactly `expected` (as a sequence when ordered, else as a multiset with
    each order_class in order); else what went wrong."""
    if got == expected:
        return ""
    if not ordered and sorted(got) == sorted(expected):
        if order_class is None:
            return ""
        classes: dict[int, list[int]] = {}
        for seq in got:
            classes.setdefault(order_class(seq), []).append(seq)
        bad = [c for c, seqs in classes.items() if seqs != sorted(seqs)]
        return f"order broken within classes {sorted(bad)}" if bad else ""
    missing = len(set(expected) - set(got))
    duplicates = len(got) - len(set(got))
    extra = len(set(got) - set(expected))
    if not missing and not duplicates and not extra:
        first = next(i for i, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b)
        return f"out of order from position {first}"
    return (
        f"got {len(got)} of {len(expected)}: "
        f"{missing} missing, {duplicates} duplicated, {extra} unexpected"
    )


def _problems(
    result: FlowResult,
    expected: dict[str, list[int]],
    ordered: bool = True,
    order_class: Callable[[int], int] | None = None,
) -> str:
    problems = list(result.problems)
    for queue, seqs in expected.items():
        problem = check_delivered(result.seqs.get(queue, []), seqs, ordered, order_class)
        if problem:
            problems.append(f"{queue}: {problem}")
    return "; ".join(problems)


def _rate(label: str, count: int, started: float, finished: float, problem: str) -> Measurement:
    elapsed = finished - started
    value = count / elapsed if elapsed > 0 and not problem else 0.0
    return Measurement(label, value, "msg/s", True, ok=not problem, detail=problem)


def _drain(address: Address, queue: str, count: int) -> FlowResult:
    """Consume everything from `queue` (untimed) to check what the broker holds."""
    return run_flow(
        address, PublisherSpec("", [queue], 0, 16), [ConsumerSpec([queue], count, no_ack=True)]
    )


@contextmanager
def _topology(
    address: Address,
    kind: str,
    *,
    queues: int = 1,
    exchange_type: str = "",
    durable: bool = False,
    arguments: dict[str, Any] | None = None,
) -> Iterator[tuple[Admin, str, list[str]]]:
    """Fresh queues (and an exchange) for one scenario, deleted afterwards: (admin, exchange,
    queue names); the exchange is "" (the default exchange) unless a type is given."""
    admin = Admin(address)
    exchange = _name(kind) if exchange_type else ""
    names = [_name(kind) for _ in range(queues)]
    try:
        if exchange_type:
            admin.exchange(exchange, exchange_type)
        for queue in names:
            admin.queue(queue, durable=durable, arguments=arguments)
        yield admin, exchange, names
    finally:
        for queue in names:
            admin.delete_queue(queue)
        if exchange_type:
            admin.delete_exchange(exchange)
        admin.close()


def _published_and_held(
    address: Address, spec: PublisherSpec, queue: str
) -> tuple[FlowResult, str]:
    """Publish with no consumer, then drain the queue (untimed) to check what it held."""
    result = run_flow(address, spec, [])
    problem = "; ".join(result.problems)
    if not problem and spec.count_queue and result.queue_count != spec.count:
        problem = f"queue holds {result.queue_count} of {spec.count}"
    if not problem:
        problem = _problems(_drain(address, queue, spec.count), {queue: list(range(spec.count))})
    return result, problem


# ---- throughput -------------------------------------------------------------------------------


def publish_only(target: Target, size: int, count: int) -> Measurement:
    label = f"publish-only {_size(size)}"
    with _topology(target.address, "publish") as (_, _, [queue]):
        spec = PublisherSpec("", [queue], count, size, count_queue=queue)
        result, problem = _published_and_held(target.address, spec, queue)
        return _rate(label, count, result.started, result.published, problem)


def end_to_end(target: Target, size: int, count: int, *, ack: bool) -> Measurement:
    label = f"end-to-end {'ack, prefetch 100' if ack else 'no-ack'} {_size(size)}"
    with _topology(target.address, "e2e") as (_, _, [queue]):
        consumer = ConsumerSpec([queue], count, no_ack=not ack, prefetch=100 if ack else 0)
        result = run_flow(target.address, PublisherSpec("", [queue], count, size), [consumer])
        problem = _problems(result, {queue: list(range(count))})
        return _rate(label, count, result.started, result.last_delivery, problem)


def confirms(target: Target, size: int, count: int) -> Measurement:
    """Persistent messages to a durable queue, each confirmed (1,000 in flight)."""
    label = f"confirms, durable, persistent {_size(size)}"
    with _topology(target.address, "confirm", durable=True) as (_, _, [queue]):
        spec = PublisherSpec("", [queue], count, size, persistent=True, confirm=True)
        result, problem = _published_and_held(target.address, spec, queue)
        return _rate(label, count, result.started, result.published, problem)


def fanout(target: Target, size: int, count: int) -> Measurement:
    label = f"fanout 1->{FANOUT_QUEUES} {_size(size)} (deliveries/s)"
    topology = _topology(target.address, "fanout", queues=FANOUT_QUEUES, exchange_type="fanout")
    with topology as (admin, exchange, queues):
        for queue in queues:
            admin.bind(queue, exchange, "")
        admin.sync()
        consumers = [ConsumerSpec(queues, count * FANOUT_QUEUES)]
        result = run_flow(target.address, PublisherSpec(exchange, [""], count, size), consumers)
        problem = _problems(result, {queue: list(range(count)) for queue in queues})
        return _rate(label, count * FANOUT_QUEUES, result.started, result.last_delivery, problem)


def topic(target: Target, size: int, count: int) -> Measurement:
    """1,000 bindings over 10 queues; message seq matches exactly binding seq % 1,000."""
    label = f"topic, {TOPIC_BINDINGS:,} bindings {_size(size)}"
    topology = _topology(target.address, "topic", queues=TOPIC_QUEUES, exchange_type="topic")
    with topology as (admin, exchange, queues):
        for i in range(TOPIC_BINDINGS):
            # a mix of patterns: a literal word then * or #
            pattern = f"svc{i}.*.event" if i % 2 else f"svc{i}.#"
            admin.bind(queues[i % TOPIC_QUEUES], exchange, pattern)
        admin.sync()
        keys = [f"svc{i}.eu.event" for i in range(TOPIC_BINDINGS)]
        consumers = [ConsumerSpec(queues, count)]
        result = run_flow(target.address, PublisherSpec(exchange, keys, count, size), consumers)
        expected = {
            queue: [s for s in range(count) if s % TOPIC_QUEUES == q]
            for q, queue in enumerate(queues)
        }
        problem = _problems(result, expected)
        return _rate(label, count, result.started, result.last_delivery, problem)


def priority(target: Target, size: int, count: int) -> Measurement:
    """x-max-priority 10, priorities 0-9 in turn, consumed with acks and prefetch 100: FIFO
    holds within one priority."""
    label = f"priority queue {_size(size)}"
    arguments = {"x-max-priority": MAX_PRIORITY}
    with _topology(target.address, "priority", arguments=arguments) as (_, _, [queue]):
        priorities: list[int | None] = list(range(MAX_PRIORITY))
        spec = PublisherSpec("", [queue], count, size, priorities=priorities)
        consumer = ConsumerSpec([queue], count, no_ack=False, prefetch=100)
        result = run_flow(target.address, spec, [consumer])
        problem = _problems(
            result,
            {queue: list(range(count))},
            ordered=False,
            order_class=lambda s: s % MAX_PRIORITY,
        )
        return _rate(label, count, result.started, result.last_delivery, problem)


# ---- latency, connections, memory -------------------------------------------------------------


def latency(target: Target, size: int, seconds: float) -> list[Measurement]:
    count = max(10, int(LATENCY_RATE * seconds))
    label = f"latency at {LATENCY_RATE:,.0f} msg/s {_size(size)}"
    with _topology(target.address, "latency") as (_, _, [queue]):
        spec = PublisherSpec("", [queue], count, size, rate=LATENCY_RATE)
        result = run_flow(target.address, spec, [ConsumerSpec([queue], count, stamps=True)])
        problem = _problems(result, {queue: list(range(count))})
        ms = sorted(ns / 1e6 for ns in result.latencies_ns) or [0.0]
        p50 = statistics.median(ms)
        p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
        return [
            Measurement(f"{label} p50", p50, "ms", False, not problem, problem),
            Measurement(f"{label} p99", p99, "ms", False, not problem, problem),
            Measurement(f"{label} max", ms[-1], "ms", False, not problem, problem),
        ]


def idle_connections(target: Target, count: int) -> list[Measurement]:
    """Open `count` connections one after another and keep them idle."""
    before = target.rss()
    conns: list[WireConnection] = []
    problem = ""
    started = time.monotonic()
    try:
        for _ in range(count):
            conns.append(target.address.connect())
    except Exception as exc:  # any failure to open is the result being reported
        problem = f"opened {len(conns)} of {count}: {exc!r}"
    elapsed = time.monotonic() - started
    time.sleep(1.0)  # let the broker settle what it allocates per connection
    per_connection = (target.rss() - before) / max(1, len(conns)) / 1024
    for conn in conns:
        conn.sock.close()
    label = f"{count:,} idle connections"
    return [
        Measurement(f"{label}: time to open", elapsed, "s", False, not problem, problem),
        Measurement(
            f"{label}: memory per connection", per_connection, "KiB", False, not problem, problem
        ),
    ]


def startup(target: Target) -> list[Measurement]:
    time.sleep(1.0)  # idle means after start-up work has settled
    return [
        Measurement("cold start to first accepted connection", target.cold_start, "s", False),
        Measurement("first AMQP answer after launch", target.first_answer, "s", False),
        Measurement("idle memory", target.rss() / 2**20, "MiB", False),
    ]


def queued_memory(target: Target, count: int) -> Measurement:
    """Resident bytes per 16-byte message held in one queue, from the broker's RSS growth.
    Checked by count only: draining a million messages would double the scenario's time."""
    label = f"memory per queued 16 B message ({count:,} queued)"
    with _topology(target.address, "memory") as (_, _, [queue]):
        before = target.rss()
        result = run_flow(
            target.address, PublisherSpec("", [queue], count, 16, count_queue=queue), []
        )
        time.sleep(1.0)
        grown = target.rss() - before
        problem = "; ".join(result.problems)
        if not problem and result.queue_count != count:
            problem = f"queue holds {result.queue_count} of {count}"
        return Measurement(label, grown / count, "B", False, not problem, problem)


def _size(size: int) -> str:
    return f"{size // 1024} KiB" if size >= 1024 else f"{size} B"


@dataclass
class Plan:
    """Which scenarios to run; all by default."""

    scale: Scale = field(default_factory=Scale)
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()

    def wants(self, key: str) -> bool:
        if any(key.startswith(s) for s in self.skip):
            return False
        return not self.only or any(key.startswith(o) for o in self.only)


def run_all(target: Target, plan: Plan, report: Callable[[Measurement], None]) -> None:
    """Every scenario against one running broker, reporting each measurement as it is made.
    The memory-per-message scenario runs last: it leaves the broker's heap grown."""
    scale = plan.scale
    if plan.wants("startup"):
        for m in startup(target):
            report(m)
    if plan.wants("connections"):  # before any scenario leaves freed heap to reuse
        for m in idle_connections(target, scale.idle_connections):
            report(m)
    for size in scale.sizes:
        count = scale.throughput
        steps: list[tuple[str, Callable[[], Measurement]]] = [
            ("publish", partial(publish_only, target, size, count)),
            ("e2e", partial(end_to_end, target, size, count, ack=False)),
            ("e2e", partial(end_to_end, target, size, count, ack=True)),
            ("confirms", partial(confirms, target, size, count)),
            ("fanout", partial(fanout, target, size, scale.fanout)),
            ("topic", partial(topic, target, size, count)),
            ("priority", partial(priority, target, size, count)),
        ]
        for key, step in steps:
            if plan.wants(key):
                report(step())
        if plan.wants("latency"):
            for m in latency(target, size, scale.latency_seconds):
                report(m)
    if plan.wants("memory"):
        report(queued_memory(target, scale.queued_messages))
