# A queue: ready messages in order, its consumers, and the rules that remove messages from it.
#
# Rules kept here:
# - Ready messages leave in publication order, highest priority first when x-max-priority is set.
# - A requeued message goes back to its original position: every message still waiting was
#   published after any message already delivered, so requeued ones (kept in a heap by publication
#   number) always come before the never-delivered ones of the same priority.
# - Unacked messages are not held here; channels hold them until ack, reject or requeue.
# - A message leaves the queue for good through remove() and nowhere else (ack, reject, expiry,
#   drop-head, purge, delete): the single place a message store hooks into. Removals that
#   dead-letter (rejected, expired, maxlen) are also collected in `dead_letters` for the broker.
# - A durable queue has a journal (the durable store): persistent messages are recorded as they
#   enter, marked when first handed out, and removed from the store by remove().
# - TTL (RabbitMQ's rule): a message is only ever removed for expiry at the head of its queue,
#   and an expired message is never handed out. Length limits count ready messages only.
# - Consumers: the highest x-priority with room gets the message, equal priorities take turns;
#   with single active consumer only the earliest registered consumer receives.
from __future__ import annotations

import enum
import heapq
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from amqp_broker.core.expiry import message_deadline
from amqp_broker.core.message import Message, QueuedMessage
from amqp_broker.core.queue_arguments import Overflow, QueueOptions

if TYPE_CHECKING:
    from amqp_broker.core.channel import Consumer


class Removal(enum.Enum):
    """Why a message left a queue for good; the dead-lettering ones carry RabbitMQ's reason."""

    ACKED = "acked"  # basic.ack, or delivered in no-ack mode
    REJECTED = "rejected"  # basic.reject / basic.nack with requeue=false
    EXPIRED = "expired"  # its TTL ran out at the head of the queue
    MAXLEN = "maxlen"  # dropped from the head by x-max-length(-bytes)
    PURGED = "purged"
    DELETED = "deleted"  # its queue was deleted (also by x-expires, exclusivity, auto-delete)


DEAD_LETTER_REASONS = frozenset({Removal.REJECTED, Removal.EXPIRED, Removal.MAXLEN})


class _ReadyList:
    """One priority level: requeued messages (a heap by seq) before fresh ones (a deque)."""

    __slots__ = ("fresh", "requeued")

    def __init__(self) -> None:
        self.fresh: deque[QueuedMessage] = deque()
        self.requeued: list[QueuedMessage] = []

    def __len__(self) -> int:
        return len(self.fresh) + len(self.requeued)

    def head(self) -> QueuedMessage | None:
        if self.requeued:
            return self.requeued[0]
        return self.fresh[0] if self.fresh else None

    def pop(self) -> QueuedMessage:
        if self.requeued:
            return heapq.heappop(self.requeued)
        return self.fresh.popleft()

    def __iter__(self) -> Iterator[QueuedMessage]:
        yield from sorted(self.requeued)
        yield from self.fresh


class MessageJournal(Protocol):
    """Where a durable queue records its persistent messages (amqp_broker.store)."""

    def append(self, message: Message) -> int:
        """Record a message entering the queue; returns its locator in the store."""
        ...

    def delivered(self, locator: int) -> None:
        """A client has seen it: after a crash it comes back with redelivered=true."""
        ...

    def remove(self, locator: int) -> None:
        """It left the queue for good."""
        ...


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
        options: QueueOptions | None = None,
        meter: MemoryMeter | None = None,
        now: float = 0.0,
    ) -> None:
        self.name = name
        self.vhost = vhost
        self.durable = durable
        self.exclusive_owner = exclusive_owner
        self.auto_delete = auto_delete
        self.arguments = arguments or {}
        self.options = options or QueueOptions()
        self.max_priority = self.options.max_priority
        self._levels = [_ReadyList() for _ in range(self.max_priority + 1)]
        self._ready_count = 0
        self._expiring = 0  # ready messages with a deadline: without any, TTL checks are skipped
        self.ready_bytes = 0
        self.meter = meter or MemoryMeter()
        self._next_seq = 0
        self.consumers: deque[Consumer] = deque()  # in registration order
        self._turns: dict[int, deque[Consumer]] = {}  # x-priority -> round-robin order
        self._priorities: list[int] = []  # the keys of _turns, highest first
        self.unacked_count = 0
        # Counted for tests and the management API (RabbitMQ's message_stats).
        self.publish_count = 0
        self.ack_count = 0
        self.deleted = False
        self.had_consumer = False
        self.last_used = now  # for x-expires: declare, basic.get, consumers
        self.dead_letters: list[tuple[QueuedMessage, Removal]] = []
        self.journal: MessageJournal | None = None

    @property
    def exclusive(self) -> bool:
        return self.exclusive_owner is not None

    # ---- entering and leaving ----------------------------------------------------------------

    def _level(self, message: Message) -> _ReadyList:
        if not self.max_priority:
            return self._levels[0]
        return self._levels[min(max(message.priority, 0), self.max_priority)]

    def publish(self, message: Message, now: float = 0.0) -> QueuedMessage:
        """The one way a message enters the queue (but see publish_taken)."""
        entry = self._enter(message, now)
        if entry.expires_at is not None:
            self._expiring += 1
        level = self._levels[0] if not self.max_priority else self._level(message)
        level.fresh.append(entry)
        size = len(message.body)
        self._ready_count += 1
        self.ready_bytes += size
        return entry

    def publish_taken(self, message: Message, now: float = 0.0) -> QueuedMessage:
        """publish() and pop() in one, for a message a consumer takes as it arrives (the queue
        holds no ready message, so it would be the next one out): never in the ready lists."""
        entry = self._enter(message, now)
        if entry.stored >= 0 and self.journal is not None:
            self.journal.delivered(entry.stored)
        return entry

    def _enter(self, message: Message, now: float) -> QueuedMessage:
        entry = QueuedMessage(message, self._next_seq)
        queue_ttl = self.options.message_ttl
        if queue_ttl is not None or message.ttl is not None:
            entry.expires_at = message_deadline(now, queue_ttl, message.ttl)
        self._next_seq += 1
        self.publish_count += 1
        if self.journal is not None and message.persistent:
            entry.stored = self.journal.append(message)
        self.meter.used += len(message.body)
        return entry

    def remove(self, entry: QueuedMessage, reason: Removal) -> None:
        """The one way a message leaves the queue for good (it is already out of the ready
        lists, or was unacked). Dead-lettering reasons queue it for the broker to republish."""
        self.meter.used -= len(entry.message.body)
        if entry.stored >= 0 and self.journal is not None:
            self.journal.remove(entry.stored)
        if (
            self.options.dead_letter_exchange is not None  # (first: hashing an enum is slow)
            and reason in DEAD_LETTER_REASONS
            and not self.deleted
        ):
            self.dead_letters.append((entry, reason))

    def take_dead_letters(self) -> list[tuple[QueuedMessage, Removal]]:
        taken, self.dead_letters = self.dead_letters, []
        return taken

    def requeue(self, entry: QueuedMessage) -> None:
        entry.redelivered = True
        heapq.heappush(self._level(entry.message).requeued, entry)
        if entry.expires_at is not None:
            self._expiring += 1
        self._ready_count += 1
        self.ready_bytes += len(entry.message.body)

    def _take(self, level: _ReadyList) -> QueuedMessage:
        entry = level.pop()
        if entry.expires_at is not None:
            self._expiring -= 1
        self._ready_count -= 1
        self.ready_bytes -= len(entry.message.body)
        return entry

    def pop(self, now: float = 0.0, fresh: QueuedMessage | None = None) -> QueuedMessage | None:
        """The next message to hand out, removing expired ones found at the head on the way.

        `fresh` is a message published in this very step: like RabbitMQ's attempt_delivery it
        may go to a waiting consumer even with TTL 0.
        """
        for level in reversed(self._levels):
            if not level.fresh and not level.requeued:
                continue  # (most levels of a priority queue are empty)
            while (head := level.head()) is not None:
                if head is not fresh and _expired(head, now):
                    self.remove(self._take(level), Removal.EXPIRED)
                    continue
                entry = self._take(level)
                if entry.stored >= 0 and not entry.redelivered and self.journal is not None:
                    self.journal.delivered(entry.stored)
                # as RabbitMQ's fetch: what expired behind it goes now, before counts are read
                self.drop_expired(now)
                return entry
        return None

    def drop_expired(self, now: float) -> None:
        """Remove the expired messages at the head of each priority level."""
        if not self._expiring:
            return
        for level in self._levels:
            while (head := level.head()) is not None and _expired(head, now):
                self.remove(self._take(level), Removal.EXPIRED)

    def would_overflow(self, message: Message) -> bool:
        """Would this publish take the ready messages past x-max-length(-bytes)?"""
        options = self.options
        return (options.max_length is not None and self._ready_count + 1 > options.max_length) or (
            options.max_length_bytes is not None
            and self.ready_bytes + len(message.body) > options.max_length_bytes
        )

    def drop_over_limit(self) -> None:
        """drop-head: remove messages from the head until the ready ones fit the limits."""
        options = self.options
        if not options.limited or options.overflow is not Overflow.DROP_HEAD:
            return
        max_length = options.max_length
        max_bytes = options.max_length_bytes
        while self._ready_count and (
            (max_length is not None and self._ready_count > max_length)
            or (max_bytes is not None and self.ready_bytes > max_bytes)
        ):
            for level in reversed(self._levels):
                if level:
                    self.remove(self._take(level), Removal.MAXLEN)
                    break

    @property
    def ready_count(self) -> int:
        return self._ready_count

    def purge(self, reason: Removal = Removal.PURGED) -> int:
        count = self._ready_count
        for level in self._levels:
            while level:
                self.remove(self._take(level), reason)
        return count

    def delete(self) -> int:
        """Mark the queue deleted and drop its ready messages (never dead-lettered)."""
        self.deleted = True
        self.consumers.clear()
        self._turns.clear()
        self._priorities.clear()
        return self.purge(Removal.DELETED)

    def ready_messages(self) -> Iterator[QueuedMessage]:
        """In delivery order, without removing them."""
        for level in reversed(self._levels):
            yield from level

    # ---- time --------------------------------------------------------------------------------

    def shift_clock(self, offset: float) -> None:
        """The broker's clock was restarted (recovery from disk): keep deadlines relative."""
        self.last_used += offset
        for entry in self.ready_messages():
            if entry.expires_at is not None:
                entry.expires_at += offset

    def touch(self, now: float) -> None:
        """The queue was used (declare, basic.get, consume): x-expires counts from here."""
        self.last_used = now

    def unused_deadline(self) -> float | None:
        """When x-expires deletes the queue, if nothing uses it before (None: never)."""
        if self.options.expires is None or self.consumers or self.deleted:
            return None
        return self.last_used + self.options.expires / 1000

    def next_deadline(self) -> float | None:
        """The earliest moment this queue needs attention: a head message's expiry or x-expires."""
        unused = self.unused_deadline()
        if not self._expiring:
            return unused
        deadlines = [
            head.expires_at
            for level in self._levels
            if (head := level.head()) is not None and head.expires_at is not None
        ]
        if unused is not None:
            deadlines.append(unused)
        return min(deadlines, default=None)

    # ---- consumers ---------------------------------------------------------------------------

    def add_consumer(self, consumer: Consumer) -> None:
        self.consumers.append(consumer)
        if consumer.priority not in self._turns:
            self._turns[consumer.priority] = deque()
            self._priorities = sorted(self._turns, reverse=True)
        self._turns[consumer.priority].append(consumer)
        self.had_consumer = True

    def remove_consumer(self, consumer: Consumer) -> None:
        if consumer not in self.consumers:
            return
        self.consumers.remove(consumer)
        turns = self._turns[consumer.priority]
        turns.remove(consumer)
        if not turns:
            del self._turns[consumer.priority]
            self._priorities.remove(consumer.priority)

    def has_exclusive_consumer(self) -> bool:
        return any(consumer.exclusive for consumer in self.consumers)

    def is_active(self, consumer: Consumer) -> bool:
        """Single active consumer: only the earliest registered one receives."""
        return not self.options.single_active_consumer or self.consumers[0] is consumer

    def next_consumer(self, can_take: Callable[[Consumer], bool]) -> Consumer | None:
        """Who gets the next message: the highest priority with room, in turn within one."""
        consumers = self.consumers
        if not consumers:
            return None
        if len(consumers) == 1 or self.options.single_active_consumer:
            active = consumers[0]  # (with one consumer there are no turns to take)
            return active if can_take(active) else None
        for priority in self._priorities:
            turns = self._turns[priority]
            for _ in range(len(turns)):
                consumer = turns[0]
                turns.rotate(-1)
                if can_take(consumer):
                    return consumer
        return None


def _expired(entry: QueuedMessage, now: float) -> bool:
    return entry.expires_at is not None and now >= entry.expires_at
