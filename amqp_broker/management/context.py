# What every management request handler works with: the running BrokerServer, its Broker, and the
# message rates sampled from the broker's counters.
#
# Rules kept here:
# - Handlers run in the broker's trio thread and call the synchronous broker directly; after a
#   call that may have queued output for clients (publish, close), changed() sends it.
# - Rates are computed from two samples of the plain integer counters the broker and server keep;
#   nothing is counted per message here.
from __future__ import annotations

from dataclasses import dataclass, field

import trio

from amqp_broker.broker import Broker
from amqp_broker.server import BrokerServer

SAMPLE_INTERVAL = 5.0  # seconds, RabbitMQ's default collect_statistics_interval


@dataclass(frozen=True, slots=True)
class Totals:
    publish: int = 0
    deliver_get: int = 0
    ack: int = 0
    bytes_in: int = 0
    bytes_out: int = 0


def totals_of(server: BrokerServer) -> Totals:
    broker = server.broker
    return Totals(
        publish=broker.messages_published,
        deliver_get=broker.messages_delivered,
        ack=broker.messages_acknowledged,
        bytes_in=server.bytes_received,
        bytes_out=server.bytes_sent,
    )


@dataclass
class RateSampler:
    """Per-second rates over the last sampling interval, from the broker's running totals."""

    previous: tuple[float, Totals] | None = None
    latest: tuple[float, Totals] | None = None

    def sample(self, now: float, totals: Totals) -> None:
        self.previous, self.latest = self.latest, (now, totals)

    def rate(self, name: str) -> float:
        if self.previous is None or self.latest is None:
            return 0.0
        (then, old), (now, new) = self.previous, self.latest
        elapsed = now - then
        if elapsed <= 0:
            return 0.0
        change: int = getattr(new, name) - getattr(old, name)
        return round(change / elapsed, 1)


@dataclass
class ManagementContext:
    server: BrokerServer
    http_port: int = 0
    rates: RateSampler = field(default_factory=RateSampler)
    started: float = field(default_factory=trio.current_time)

    @property
    def broker(self) -> Broker:
        return self.server.broker

    @property
    def amqp_port(self) -> int:
        address = self.server.address
        return address.port if address is not None else 0

    def catch_up(self) -> None:
        """Bring the broker's clock to now before an operation (TTLs count from it): what
        expired meanwhile goes first, as it would for a client's command."""
        self.broker.run_timers(trio.current_time())

    def changed(self) -> None:
        """After a request: send what broker calls queued for clients, wake test waiters."""
        self.server.apply(_nothing)


def _nothing() -> None:
    """apply() runs a change and then wakes everyone; the change has already been made."""
