# trio-amqp-broker: an AMQP 0-9-1 broker that RabbitMQ clients talk to unchanged.
# The public API only; everything else is an implementation detail.
#
# The names are loaded on first use (PEP 562): `amqp-broker` imports this package before it
# listens, and importing the broker and trio here would add ~100 ms to its cold start.
from __future__ import annotations

from typing import TYPE_CHECKING

from amqp_broker.lazy_names import lazy_getattr
from amqp_broker.version import __version__

if TYPE_CHECKING:
    from amqp_broker.broker import Broker
    from amqp_broker.config import BrokerConfig, User
    from amqp_broker.server import serve

__all__ = ["Broker", "BrokerConfig", "User", "__version__", "serve"]

_HOMES = {
    "Broker": "amqp_broker.broker",
    "BrokerConfig": "amqp_broker.config",
    "User": "amqp_broker.config",
    "serve": "amqp_broker.server",
}


__getattr__ = lazy_getattr(__name__, _HOMES)
