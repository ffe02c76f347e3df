# The load generator: a publisher process and a consumer process around a broker, and the same
# hot loops pointed at a counting sink and a blasting source to measure the generator's own ceiling.
#
# Rules kept here:
# - Each role runs in its own process (spawned, so no broker or test state is inherited), sets up
#   over a WireConnection, reports "ready", and only then starts its clock.
# - Times are time.monotonic() values, comparable between processes on one machine: a flow's rate
#   is messages / (last delivery seen by any consumer - first publish).
# - The hot loops never decode with pamqp: see wire.py.
from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import selectors
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from pamqp import commands

from bench.wire import (
    ConfirmTracker,
    DeliveryScanner,
    PublishTemplate,
    WireConnection,
    ack_frame,
    deliver_prefix,
    encode_properties,
    publish_prefix,
)

READ_SIZE = 1 << 18
PUBLISH_BATCH = 100  # messages per sendall: big enough to amortise the call, small enough to flow
CONFIRM_WINDOW = 1000  # unconfirmed publishes in flight, as PerfTest's --confirm 1000

_spawn = multiprocessing.get_context("spawn")


@dataclass
class PublisherSpec:
    """What one publisher process sends: `count` messages cycling over routing keys and
    priorities, optionally confirmed, optionally paced at `rate` msg/s with timestamps."""

    exchange: str
    routing_keys: list[str]
    count: int
    body_size: int
    priorities: list[int | None] = field(default_factory=lambda: [None])
    persistent: bool = False
    confirm: bool = False
    rate: float = 0.0
    # after the last publish, a passive queue.declare on the same channel: its message_count
    # says how many publishes the broker has enqueued (publish-only scenarios)
    count_queue: str = ""

    def template(self, channel: int) -> PublishTemplate:
        # cycle keys and priorities together: message seq uses prefixes[seq % len]
        length = len(self.routing_keys) * len(self.priorities)
        prefixes = []
        for i in range(length):
            key = self.routing_keys[i % len(self.routing_keys)]
            priority = self.priorities[i % len(self.priorities)]
            properties = encode_properties(
                delivery_mode=2 if self.persistent else 0, priority=priority
            )
            prefixes.append(publish_prefix(channel, self.exchange, key, properties, self.body_size))
        return PublishTemplate(prefixes, self.body_size)


@dataclass
class ConsumerSpec:
    """One consumer process: one connection per queue, consuming with no-ack or manual acks
    (multiple=true, once per read) under a prefetch limit."""

    queues: list[str]
    expected: int  # deliveries in total over all its queues
    no_ack: bool = True
    prefetch: int = 0
    stamps: bool = False


@dataclass
class Address:
    host: str
    port: int
    vhost: str = "/"
    user: str = "guest"
    password: str = "guest"

    def connect(self) -> WireConnection:
        return WireConnection(
            self.host, self.port, vhost=self.vhost, user=self.user, password=self.password
        )


@dataclass
class FlowResult:
    started: float = 0.0  # first publish
    published: float = 0.0  # last publish written (or confirmed, with confirms)
    last_delivery: float = 0.0
    first_delivery: float = 0.0
    queue_count: int = -1  # the passive declare's message_count, when asked
    seqs: dict[str, list[int]] = field(default_factory=dict)  # per queue, in arrival order
    latencies_ns: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


# ---- the hot loops ----------------------------------------------------------------------------


def publish_loop(sock: socket.socket, template: PublishTemplate, count: int) -> None:
    for start in range(0, count, PUBLISH_BATCH):
        sock.sendall(template.batch(start, min(start + PUBLISH_BATCH, count)))


def publish_paced(sock: socket.socket, template: PublishTemplate, count: int, rate: float) -> None:
    """One message per 1/rate s, each stamped with its send time; no catch-up bursts."""
    started = time.monotonic()
    for seq in range(count):
        delay = started + seq / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sock.sendall(template.batch(seq, seq + 1, time.monotonic_ns()))


def publish_confirmed(
    sock: socket.socket, template: PublishTemplate, count: int, pending: bytes
) -> ConfirmTracker:
    tracker = ConfirmTracker()
    tracker.feed(pending)
    sent = 0
    while tracker.confirmed < count and not tracker.problem:
        room = CONFIRM_WINDOW - (sent - tracker.confirmed)
        if sent < count and room > 0:
            upto = min(sent + min(PUBLISH_BATCH, room), count)
            sock.sendall(template.batch(sent, upto))
            sent = upto
            try:
                data = sock.recv(READ_SIZE, socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
        else:
            data = sock.recv(READ_SIZE)
        if not data:
            tracker.problem = "the broker closed the connection"
            break
        tracker.feed(data)
    return tracker


@dataclass
class _Subscription:
    sock: socket.socket
    scanner: DeliveryScanner
    queue: str
    acked: int = 0


def consume_loop(
    subscriptions: list[_Subscription], expected: int, no_ack: bool, idle_timeout: float
) -> tuple[float, float, str]:
    """Read until `expected` deliveries arrived in total; (first, last, problem)."""
    selector = selectors.DefaultSelector()
    for sub in subscriptions:
        selector.register(sub.sock, selectors.EVENT_READ, sub)
    received = sum(sub.scanner.received for sub in subscriptions)
    first = time.monotonic() if received else 0.0
    last = first
    problem = ""
    try:
        while received < expected:
            events = selector.select(idle_timeout)
            if not events:
                problem = f"no delivery for {idle_timeout} s after {received} of {expected}"
                break
            for key, _ in events:
                sub = key.data
                data = sub.sock.recv(READ_SIZE)
                if not data:
                    problem = f"the broker closed the connection consuming {sub.queue}"
                    break
                scanner = sub.scanner
                before = scanner.received
                scanner.feed(data, time.monotonic_ns())
                received += scanner.received - before
                if scanner.problem:
                    problem = scanner.problem
                    break
                if not no_ack and scanner.last_tag[1] > sub.acked:
                    sub.acked = scanner.last_tag[1]
                    sub.sock.sendall(ack_frame(1, sub.acked))
            else:
                last = time.monotonic()
                first = first or last
                continue
            break
    finally:
        selector.close()
    return first, last, problem


# ---- the roles (child processes) --------------------------------------------------------------


def _wait_enqueued(conn: WireConnection, queue: str, count: int) -> int:
    """Poll the queue's depth until it holds `count` messages (or stops growing for 10 s):
    RabbitMQ's queue.declare-ok may answer before every earlier publish reached the queue."""
    held = -1
    deadline = time.monotonic() + 10
    while held < count and time.monotonic() < deadline:
        declare_ok = conn.rpc(
            1, commands.Queue.Declare(queue=queue, passive=True), commands.Queue.DeclareOk
        )
        if declare_ok.message_count > held:
            deadline = time.monotonic() + 10
        held = declare_ok.message_count
    return held


def _publisher_main(
    address: Address,
    spec: PublisherSpec,
    ready: Any,
    go: Any,
    out: multiprocessing.connection.Connection,
) -> None:
    result = FlowResult()
    try:
        conn = address.connect()
        conn.open_channel(1)
        if spec.confirm:
            conn.rpc(1, commands.Confirm.Select(), commands.Confirm.SelectOk)
        template = spec.template(1)
        ready.set()
        go.wait()
        result.started = time.monotonic()
        if spec.confirm:
            tracker = publish_confirmed(conn.sock, template, spec.count, bytes(conn.pending))
            conn.pending = tracker.buffer
            if tracker.problem:
                result.problems.append(tracker.problem)
            if tracker.nacked:
                result.problems.append(f"{tracker.nacked} basic.nack from the broker")
        elif spec.rate:
            publish_paced(conn.sock, template, spec.count, spec.rate)
        else:
            publish_loop(conn.sock, template, spec.count)
        if spec.count_queue:
            result.queue_count = _wait_enqueued(conn, spec.count_queue, spec.count)
        result.published = time.monotonic()
        conn.close()
    except Exception as exc:  # reported to the parent, which fails the scenario
        result.problems.append(f"publisher: {exc!r}")
    finally:
        ready.set()
    out.send(result)


def _consumer_main(
    address: Address,
    spec: ConsumerSpec,
    idle_timeout: float,
    ready: Any,
    out: multiprocessing.connection.Connection,
) -> None:
    result = FlowResult()
    conns: list[WireConnection] = []
    subscriptions: list[_Subscription] = []
    try:
        for queue in spec.queues:
            conn = address.connect()
            conns.append(conn)
            conn.open_channel(1)
            if spec.prefetch:
                conn.rpc(1, commands.Basic.Qos(prefetch_count=spec.prefetch), commands.Basic.QosOk)
            conn.rpc(
                1,
                commands.Basic.Consume(queue=queue, no_ack=spec.no_ack, consumer_tag="bench"),
                commands.Basic.ConsumeOk,
            )
            scanner = DeliveryScanner([1], stamps=spec.stamps)
            scanner.feed(bytes(conn.pending))
            subscriptions.append(_Subscription(conn.sock, scanner, queue))
        ready.set()
        first, last, problem = consume_loop(subscriptions, spec.expected, spec.no_ack, idle_timeout)
        result.first_delivery, result.last_delivery = first, last
        if problem:
            result.problems.append(f"consumer: {problem}")
        for sub in subscriptions:
            result.seqs[sub.queue] = sub.scanner.seqs[1]
            result.latencies_ns.extend(sub.scanner.latencies)
    except Exception as exc:  # reported to the parent, which fails the scenario
        result.problems.append(f"consumer: {exc!r}")
    finally:
        ready.set()
        for conn in conns:
            conn.sock.close()
    out.send(result)


def run_flow(
    address: Address,
    publisher: PublisherSpec,
    consumers: list[ConsumerSpec],
    idle_timeout: float = 20.0,
) -> FlowResult:
    """Start the consumers, wait until they are subscribed, then publish; merge what they saw."""
    processes = []
    pipes = []
    readies = []
    for spec in consumers:
        ready = _spawn.Event()
        receive, send = _spawn.Pipe(duplex=False)
        process = _spawn.Process(
            target=_consumer_main, args=(address, spec, idle_timeout, ready, send), daemon=True
        )
        process.start()
        send.close()  # the child holds the only sending end: its exit shows as EOF here
        processes.append(process)
        pipes.append(receive)
        readies.append(ready)
    ready = _spawn.Event()
    go = _spawn.Event()
    receive, send = _spawn.Pipe(duplex=False)
    process = _spawn.Process(
        target=_publisher_main, args=(address, publisher, ready, go, send), daemon=True
    )
    process.start()
    send.close()
    processes.append(process)
    pipes.append(receive)
    for event in [*readies, ready]:
        event.wait(60)
    go.set()
    merged = FlowResult()
    try:
        for pipe in pipes:
            try:
                if not pipe.poll(idle_timeout + 600):
                    raise EOFError
                part: FlowResult = pipe.recv()
            except EOFError:
                merged.problems.append("a load generator process died without a report")
                continue
            merged.problems.extend(part.problems)
            merged.seqs.update(part.seqs)
            merged.latencies_ns.extend(part.latencies_ns)
            if part.started:
                merged.started = part.started
                merged.published = part.published
                merged.queue_count = part.queue_count
            merged.last_delivery = max(merged.last_delivery, part.last_delivery)
            if part.first_delivery:
                merged.first_delivery = min(
                    merged.first_delivery or part.first_delivery, part.first_delivery
                )
    finally:
        for process in processes:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()
    return merged


# ---- the generator's own ceiling ----------------------------------------------------------------


def _counting_sink_main(expected: int, out: multiprocessing.connection.Connection) -> None:
    """Accept one connection and count bytes until `expected` arrived: (first, last) seen."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        out.send(listener.getsockname()[1])
        sock, _ = listener.accept()
        with sock:
            total = 0
            first = 0.0
            while total < expected:
                data = sock.recv(READ_SIZE)
                if not data:
                    break
                first = first or time.monotonic()
                total += len(data)
            out.send((total, time.monotonic()))


def _blasting_source_main(
    count: int, body_size: int, out: multiprocessing.connection.Connection
) -> None:
    """Accept one connection and send `count` pre-encoded deliveries as fast as it can."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        out.send(listener.getsockname()[1])
        sock, _ = listener.accept()
        with sock:
            # one prefix per tag would be realistic but costs the source, not the consumer;
            # the consumer reads tags the same way whatever their value
            template = PublishTemplate([deliver_prefix(1, "bench", 1, body_size)], body_size)
            for start in range(0, count, PUBLISH_BATCH):
                sock.sendall(template.batch(start, min(start + PUBLISH_BATCH, count)))
            sock.recv(1)  # hold the socket until the consumer is done


def publisher_ceiling(count: int, body_size: int) -> float:
    """msg/s the publish loop reaches against a sink that only counts bytes."""
    receive, send = _spawn.Pipe(duplex=False)
    template = PublishTemplate([publish_prefix(1, "", "q", b"\0\0", body_size)], body_size)
    per_message = len(template.batch(0, 1))
    sink = _spawn.Process(target=_counting_sink_main, args=(per_message * count, send), daemon=True)
    sink.start()
    try:
        port = receive.recv()
        with socket.create_connection(("127.0.0.1", port)) as sock:
            started = time.monotonic()
            publish_loop(sock, template, count)
            _total, finished = receive.recv()
    finally:
        sink.join(5)
    return count / (finished - started)


def consumer_ceiling(count: int, body_size: int) -> float:
    """msg/s the delivery reader reaches against a source that only blasts deliveries."""
    receive, send = _spawn.Pipe(duplex=False)
    source = _spawn.Process(
        target=_blasting_source_main, args=(count, body_size, send), daemon=True
    )
    source.start()
    try:
        port = receive.recv()
        with socket.create_connection(("127.0.0.1", port)) as sock:
            started = time.monotonic()
            scanner = DeliveryScanner([1])
            sub = _Subscription(sock, scanner, "q")
            _first, last, problem = consume_loop([sub], count, no_ack=True, idle_timeout=20)
            if problem or scanner.seqs[1] != list(range(count)):
                raise RuntimeError(f"consumer ceiling run went wrong: {problem or 'order'}")
            sock.sendall(b"x")
    finally:
        source.join(5)
    return count / max(last - started, 1e-9)
