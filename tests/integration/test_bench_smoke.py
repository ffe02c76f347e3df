# Keeps bench/ from rotting: the load generator, its ceiling runs and every scenario's checker run
# against our broker (as a subprocess, like the real benchmark) with tiny message counts.
# Nothing here asserts a speed: only that each scenario ran and its exactly-once/order check held.
from __future__ import annotations

import pytest

from bench import hotpath
from bench.brokers import OurBroker
from bench.loadgen import (
    Address,
    ConsumerSpec,
    PublisherSpec,
    consumer_ceiling,
    publisher_ceiling,
    run_flow,
)
from bench.scenarios import Measurement, Plan, Scale, check_delivered, run_all


@pytest.mark.timeout(180)
def test_every_scenario_runs_and_checks_against_our_broker() -> None:
    measurements: list[Measurement] = []
    broker = OurBroker()
    try:
        run_all(broker, Plan(Scale.quick()), measurements.append)
    finally:
        broker.stop()
    failed = [m for m in measurements if not m.ok]
    assert not failed, failed
    names = {m.scenario for m in measurements}
    for expected in (
        "publish-only 16 B",
        "end-to-end no-ack 1 KiB",
        "end-to-end ack, prefetch 100 16 B",
        "confirms, durable, persistent 16 B",
        "fanout 1->10 1 KiB (deliveries/s)",
        "topic, 1,000 bindings 16 B",
        "priority queue 1 KiB",
        "latency at 1,000 msg/s 16 B p99",
        "10 idle connections: memory per connection",
        "cold start to first accepted connection",
        "idle memory",
        "memory per queued 16 B message (2,000 queued)",
    ):
        assert expected in names


@pytest.mark.timeout(60)
def test_load_generator_ceiling_runs_count_every_message() -> None:
    assert publisher_ceiling(500, 16) > 0
    assert consumer_ceiling(500, 1024) > 0  # raises if a delivery was lost or reordered


@pytest.mark.timeout(60)
def test_consumer_reports_a_missing_queue_as_a_problem() -> None:
    broker = OurBroker()
    try:
        result = run_flow(
            Address("127.0.0.1", broker.address.port),
            PublisherSpec("", ["nowhere"], 5, 16),
            [ConsumerSpec(["no-such-queue"], 5)],
            idle_timeout=2.0,
        )
    finally:
        broker.stop()
    assert any("404" in problem for problem in result.problems), result.problems


def test_check_delivered_names_loss_duplicates_and_reordering() -> None:
    assert check_delivered([0, 1, 2], [0, 1, 2], True, None) == ""
    assert "1 missing" in check_delivered([0, 2], [0, 1, 2], True, None)
    assert "1 duplicated" in check_delivered([0, 1, 1, 2], [0, 1, 2], True, None)
    assert "out of order from position 1" in check_delivered([0, 2, 1], [0, 1, 2], True, None)
    # priority queues: any interleaving, but FIFO within a class
    assert check_delivered([1, 0, 3, 2], [0, 1, 2, 3], False, lambda s: s % 2) == ""
    assert "order broken" in check_delivered([2, 0, 1, 3], [0, 1, 2, 3], False, lambda s: s % 2)


@pytest.mark.parametrize("mode", ["no-ack", "ack", "priority", "publish-only"])
def test_hotpath_bench_runs_and_checks_every_mode(mode: str) -> None:
    """bench.hotpath raises when a delivery is lost, duplicated or out of order."""
    assert hotpath.run(2_000, 16, mode) > 0
