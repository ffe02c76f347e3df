# pytest fixtures, registered through the pytest11 entry point:
#   amqp_broker           one BrokerThread per test session (per pytest-xdist worker: each worker
#                         is its own process) on an ephemeral port
#   amqp_vhost            the name of a fresh vhost on that broker, deleted after the test, so
#                         tests are isolated from each other
#   amqp_url              a URL naming amqp_vhost
#   amqp_private_broker   a BrokerThread for one test alone, for faults that would disturb others
#                         (closing every connection, restarts, blocking publishers)
from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from amqp_broker.testing import BrokerThread

_vhost_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def amqp_broker() -> Iterator[BrokerThread]:
    with BrokerThread() as broker:
        yield broker


@pytest.fixture
def amqp_vhost(amqp_broker: BrokerThread) -> Iterator[str]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    vhost = f"test-{worker}-{os.getpid()}-{next(_vhost_numbers)}"
    amqp_broker.add_vhost(vhost)
    try:
        yield vhost
    finally:
        amqp_broker.delete_vhost(vhost)


@pytest.fixture
def amqp_url(amqp_broker: BrokerThread, amqp_vhost: str) -> str:
    return amqp_broker.url_for(amqp_vhost)


@pytest.fixture
def amqp_private_broker() -> Iterator[BrokerThread]:
    with BrokerThread() as broker:
        yield broker
