# The crash test: publishers with confirms on durable queues, a consumer acking, the broker process
# killed with SIGKILL at random moments, restarted on the same data directory each time, and the
# queues drained at the end. No confirmed message may be lost; duplicates (delivered but not yet
# acked at a crash) and unconfirmed messages that did not survive are reported, as RabbitMQ allows.
#
# Set CRASH_TEST_SEED to replay a run; the seed is printed with the report.
from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pika
import pytest

from amqp_broker.testing import BrokerProcess

QUEUES = ("crash-a", "crash-b")
PUBLISHERS = 3
ROUNDS = 5
PERSISTENT = pika.BasicProperties(delivery_mode=2)


@dataclass
class Ledger:
    """What the clients saw, shared by their threads (each list is appended by one thread)."""

    attempted: list[str] = field(default_factory=list)
    confirmed: list[str] = field(default_factory=list)
    received: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: list[str], body: str) -> None:
        with self.lock:
            kind.append(body)


def publish_until_killed(url: str, publisher: int, round_number: int, ledger: Ledger) -> None:
    try:
        connection = pika.BlockingConnection(pika.URLParameters(url))
        channel = connection.channel()
        channel.confirm_delivery()
        for number in range(1_000_000):
            body = f"r{round_number}-p{publisher}-{number}"
            ledger.add(ledger.attempted, body)
            channel.basic_publish("", QUEUES[number % len(QUEUES)], body.encode(), PERSISTENT)
            ledger.add(ledger.confirmed, body)  # basic_publish returned: the broker acked it
    except Exception:  # the broker was killed: whatever was in flight is unconfirmed
        return


def consume_until_killed(url: str, ledger: Ledger) -> None:
    try:
        connection = pika.BlockingConnection(pika.URLParameters(url))
        channel = connection.channel()
        channel.basic_qos(prefetch_count=20)
        for method, _, body in channel.consume(QUEUES[0], inactivity_timeout=0.05):
            if method is None:
                continue
            ledger.add(ledger.received, body.decode())
            channel.basic_ack(method.delivery_tag)
    except Exception:
        return


def declare_queues(url: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    for queue in QUEUES:
        channel.queue_declare(queue, durable=True)
    connection.close()


def drain(url: str, ledger: Ledger) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    for queue in QUEUES:
        while True:
            method, _, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                break
            ledger.received.append(body.decode())
    connection.close()


@dataclass(frozen=True)
class Report:
    confirmed: int
    lost: list[str]
    duplicates: int
    unconfirmed_lost: int
    unconfirmed_kept: int

    def __str__(self) -> str:
        return (
            f"confirmed={self.confirmed} lost={len(self.lost)} duplicates={self.duplicates} "
            f"unconfirmed: lost={self.unconfirmed_lost} survived={self.unconfirmed_kept}"
        )


def check(ledger: Ledger) -> Report:
    seen = Counter(ledger.received)
    confirmed = set(ledger.confirmed)
    unconfirmed = set(ledger.attempted) - confirmed
    return Report(
        confirmed=len(confirmed),
        lost=sorted(confirmed - seen.keys()),
        duplicates=sum(count - 1 for count in seen.values()),
        unconfirmed_lost=len(unconfirmed - seen.keys()),
        unconfirmed_kept=len(unconfirmed & seen.keys()),
    )


@pytest.mark.timeout(120)
def test_sigkill_never_loses_a_confirmed_message(tmp_path: Path) -> None:
    seed = int(os.environ.get("CRASH_TEST_SEED", random.randrange(2**32)))
    chance = random.Random(seed)
    data_dir = str(tmp_path / "data")
    ledger = Ledger()
    for round_number in range(ROUNDS):
        broker = BrokerProcess(data_dir=data_dir).start()
        try:
            declare_queues(broker.url)
            threads = [
                threading.Thread(
                    target=publish_until_killed, args=(broker.url, n, round_number, ledger)
                )
                for n in range(PUBLISHERS)
            ]
            threads.append(threading.Thread(target=consume_until_killed, args=(broker.url, ledger)))
            for thread in threads:
                thread.start()
            time.sleep(chance.uniform(0.3, 1.5))
            broker.send_signal(signal.SIGKILL)
            for thread in threads:
                thread.join(timeout=30)
        finally:
            broker.stop()
    with BrokerProcess(data_dir=data_dir) as broker:
        drain(broker.url, ledger)
    report = check(ledger)
    print(f"crash test seed={seed}: {report}")
    assert report.confirmed > 0
    assert not report.lost, f"seed={seed}: {report}; lost e.g. {report.lost[:5]}"
