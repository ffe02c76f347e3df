# What was published to chosen exchanges, kept for tests to read back (opt-in and bounded).
#
# Rules kept here:
# - Nothing is recorded until an exchange is watched; then each publish to it (from a client, a
#   committed transaction or a test's injection) is kept with the queues it reached, oldest
#   first, and the oldest are dropped beyond the limit.
# - A message is recorded under the exchange it was published to, not the exchanges it passed
#   through on its way to queues.
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from amqp_broker.core.message import Message


@dataclass(frozen=True, slots=True)
class PublishRecord:
    vhost: str
    message: Message
    routed_to: tuple[str, ...]  # names of the queues the message reached


class PublishHistory:
    def __init__(self) -> None:
        self._logs: dict[tuple[str, str], deque[PublishRecord]] = {}

    @property
    def watching(self) -> bool:
        """Whether any exchange is watched: the publish path checks this and nothing else."""
        return bool(self._logs)

    def watch(self, vhost: str, exchange: str, limit: int) -> None:
        """Start (or keep) recording publishes to an exchange, keeping the last `limit`."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        kept = self._logs.get((vhost, exchange), ())
        self._logs[(vhost, exchange)] = deque(kept, maxlen=limit)

    def unwatch(self, vhost: str, exchange: str) -> None:
        self._logs.pop((vhost, exchange), None)

    def record(self, vhost: str, message: Message, routed_to: list[str]) -> None:
        log = self._logs.get((vhost, message.exchange))
        if log is not None:
            log.append(PublishRecord(vhost, message, tuple(routed_to)))

    def records(self, vhost: str, exchange: str) -> list[PublishRecord]:
        """Oldest first. Raises KeyError when the exchange is not watched."""
        log = self._logs.get((vhost, exchange))
        if log is None:
            raise KeyError(
                f"publishes to exchange '{exchange}' in vhost '{vhost}' are not recorded"
            )
        return list(log)

    def forget_vhost(self, vhost: str) -> None:
        for key in [key for key in self._logs if key[0] == vhost]:
            del self._logs[key]
