# The package and the store load their names on first use, so `amqp-broker` can listen before
# it imports trio and the broker (docs/performance.md, "Cold start").
from __future__ import annotations

import subprocess
import sys

import pytest

from amqp_broker.lazy_names import lazy_getattr

CHECK = """
import sys
import amqp_broker, amqp_broker.store
heavy = {"trio", "amqp_broker.broker", "amqp_broker.server", "amqp_broker.store.journal"}
assert not heavy & set(sys.modules), heavy & set(sys.modules)
assert amqp_broker.Broker.__name__ == "Broker" and "Broker" in vars(amqp_broker)
assert amqp_broker.store.open_store.__name__ == "open_store"
"""


def test_importing_the_packages_loads_nothing_heavy_until_a_name_is_used() -> None:
    subprocess.run([sys.executable, "-c", CHECK], check=True, timeout=60)


def test_an_unknown_name_is_an_attribute_error_naming_the_package() -> None:
    module_getattr = lazy_getattr("amqp_broker", {"Broker": "amqp_broker.broker"})
    with pytest.raises(AttributeError, match="module 'amqp_broker' has no attribute 'nope'"):
        module_getattr("nope")
