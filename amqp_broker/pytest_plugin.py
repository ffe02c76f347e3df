# pytest fixtures, registered through the pytest11 entry point:
#   amqp_broker  one BrokerThread per test session on an ephemeral port
#   amqp_url     a URL naming a fresh vhost on that broker, deleted after the test, so tests are
#                isolated from each other (and each pytest-xdist worker has its own broker)
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
def amqp_url(amqp_broker: BrokerThread) -> Iterator[str]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    vhost = f"test-{worker}-{os.getpid()}-{next(_vhost_numbers)}"
    amqp_broker.call(lambda: amqp_broker.broker.add_vhost(vhost))
    try:
        yield amqp_broker.url_for(vhost)
    finally:
        amqp_broker.call(lambda: amqp_broker.broker.delete_vhost(vhost))
