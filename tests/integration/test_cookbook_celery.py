# Cookbook (docs/testing.md): testing Celery (and so kombu) code against the broker: check what
# a producer enqueued without running a worker, and run a real worker in a thread.
from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker

from amqp_broker.testing import BrokerThread

# ---- the application code under test ----------------------------------------------------------


def make_app(broker_url: str) -> Celery:
    app = Celery("shop", broker=broker_url, backend="rpc://")
    app.conf.broker_connection_retry_on_startup = True

    @app.task(name="shop.add")
    def add(x: int, y: int) -> int:
        return x + y

    return app


# ---- the tests --------------------------------------------------------------------------------


@pytest.fixture
def celery_app(amqp_url: str) -> Iterator[Celery]:
    app = make_app(amqp_url)
    # AMQP heartbeats wake the worker's event loop twice a second, so that start_worker's
    # teardown, which waits for the loop to notice the stop, takes 0.5 s rather than 10 s.
    app.conf.broker_heartbeat = 1
    yield app
    app.close()


def test_delay_enqueues_a_task_message(
    amqp_broker: BrokerThread, amqp_vhost: str, celery_app: Celery
) -> None:
    celery_app.tasks["shop.add"].delay(2, 3)

    amqp_broker.wait_for(amqp_broker.queue_has("celery", ready=1, vhost=amqp_vhost))
    [message] = amqp_broker.peek("celery", vhost=amqp_vhost)
    assert message.headers["task"] == "shop.add"
    assert message.headers["argsrepr"] == "(2, 3)"
    assert message.properties["content_type"] == "application/json"


def test_a_worker_runs_the_task_and_returns_its_result(celery_app: Celery) -> None:
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        result = celery_app.tasks["shop.add"].delay(2, 3)
        assert result.get(timeout=10) == 5
