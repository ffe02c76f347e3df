# A queue: ready messages in order, its consumers in round-robin order.
#
# Rules kept here:
# - Ready messages leave in publication order, highest priority first when x-max-priority is set.
# - A requeued message goes back to its original position: every message still waiting was
#   published after any message already delivered, so requeued ones (kept in a heap by publication
#   number) always come before the never-delivered ones of the same priority.
# - Unacked messages are not held here; channels hold them until ack, reject or requeue.
from __future__ import annotations

import contextlib
import heapq
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from amqp_broker.core.message import Message, QueuedMessage

if TYPE_CHECKING:
    from amqp_broker.core.channel import Consumer


class _ReadyList:
    """One priority level: requeued messages (a heap by seq) before fresh ones (a deque)."""

    __slots__ = ("fresh", "requeued")

    def __init__(self) -> None:
        self.fresh: deque[QueuedMessage] = deque()
        self.requeued: list[QueuedMessage] = []

    def __len__(self) -> int:
        return len(self.fresh) + len(self.requeued)

    def pop(self) -> QueuedMessage:
        if self.requeued:
            return heapq.heappop(self.requeued)
        return self.fresh.popleft()

    def __iter__(self) -> Iterator[QueuedMessage]:
        yield from sorted(self.requeued)
        yield from self.fresh

    def clear(self) -> int:
        count = len(self)
        self.fresh.clear()
        self.requeued.clear()
        return count


class MemoryMeter:
    """Bytes of message bodies held by queues (ready or unacked), shared by a broker's queues.

    A message routed to three queues counts three times: a conservative figure is what the
    publisher-blocking threshold needs.
    """

    __slots__ = ("used",)

    def __init__(self) -> None:
        self.used = 0


class Queue:
    def __init__(
        self,
        name: str,
        vhost: str,
        *,
        durable: bool = False,
        exclusive_owner: object | None = None,
        auto_delete: bool = False,
        arguments: dict[str, Any] | None = None,
        max_priority: int = 0,
        meter: MemoryMeter | None = None,
    ) -> None:
        self.name = name
        self.vhost = vhost
        self.durable = durable
        self.exclusive_owner = exclusive_owner
        self.auto_delete = auto_delete
        self.arguments = arguments or {}
        self.max_priority = max_priority
        self._levels = [_ReadyList() for _ in range(max_priority + 1)]
        self._ready_count = 0
        self.ready_bytes = 0
        self.meter = meter or MemoryMeter()
        self._next_seq = 0
        self.consumers: deque[Consumer] = deque()
        self.unacked_count = 0
        self.deleted = False
        self.had_consumer = False

    @property
    def exclusive(self) -> bool:
        return self.exclusive_owner is not None

    # ---- ready messages ----------------------------------------------------------------------

    def _level(self, message: Message) -> _ReadyList:
        if not self.max_priority:
            return self._levels[0]
        return self._levels[min(max(message.priority, 0), self.max_priority)]

    def publish(self, message: Message) -> QueuedMessage:
        entry = QueuedMessage(message, self._next_seq)
        self._next_seq += 1
        self._level(message).fresh.append(entry)
        self._ready_count += 1
        self.ready_bytes += len(message.body)
        self.meter.used += len(message.body)
        return entry

    def requeue(self, entry: QueuedMessage) -> None:
        entry.redelivered = True
        heapq.heappush(self._level(entry.message).requeued, entry)
        self._ready_count += 1
        self.ready_bytes += len(entry.message.body)

    def pop(self) -> QueuedMessage | None:
        if not self._ready_count:
            return None
        for level in reversed(self._levels):
            if level:
                self._ready_count -= 1
                entry = level.pop()
                self.ready_bytes -= len(entry.message.body)
                return entry
        raise AssertionError("ready count out of step with the ready lists")

    @property
    def ready_count(self) -> int:
        return self._ready_count

    def purge(self) -> int:
        count = sum(level.clear() for level in self._levels)
        self._ready_count = 0
        self.meter.used -= self.ready_bytes
        self.ready_bytes = 0
        return count

    def discard(self, entry: QueuedMessage) -> None:
        """A delivered message is gone for good (acked, rejected, or sent in no-ack mode)."""
        self.meter.used -= len(entry.message.body)

    def ready_messages(self) -> Iterator[QueuedMessage]:
        """In delivery order, without removing them."""
        for level in reversed(self._levels):
            yield from level

    # ---- consumers ---------------------------------------------------------------------------

    def add_consumer(self, consumer: Consumer) -> None:
        self.consumers.append(consumer)
        self.had_consumer = True

    def remove_consumer(self, consumer: Consumer) -> None:
        with contextlib.suppress(ValueError):
            self.consumers.remove(consumer)

    def has_exclusive_consumer(self) -> bool:
        return any(consumer.exclusive for consumer in self.consumers)
