# trio-amqp-broker: an AMQP 0-9-1 broker that RabbitMQ clients talk to unchanged.
# The public API only; everything else is an implementation detail.
from __future__ import annotations

from amqp_broker.broker import Broker
from amqp_broker.config import BrokerConfig, User
from amqp_broker.server import serve
from amqp_broker.version import __version__

__all__ = ["Broker", "BrokerConfig", "User", "__version__", "serve"]
