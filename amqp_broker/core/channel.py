# One channel's broker-side state: consumers, delivery tags, unacked deliveries, prefetch limits,
# publisher-confirm numbering.
#
# Rules kept here:
# - Delivery tags start at 1 and grow by one per delivery on the channel (64-bit in practice).
# - Unacked deliveries are kept in tag order (a dict preserves insertion order and tags only grow),
#   so `multiple=true` settles a prefix of the dict. That prefix is found through a deque of tags
#   in order (settled ones are skipped when met, and compacted away), so settling k deliveries
#   costs O(k) however many are outstanding: iterating the dict from its start would walk the
#   slots of every entry already removed.
# - A consumer never holds more unacked deliveries than its prefetch limit, nor the channel more
#   than its global limit (RabbitMQ's per_consumer_qos meaning of basic.qos).
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from amqp_broker.core.message import QueuedMessage
from amqp_broker.core.queue import Queue, Removal
from amqp_broker.errors import AMQPError, ReplyCode

# Like RabbitMQ's per-channel permission cache (12 entries): a channel publishing to many
# exchanges starts over rather than growing without bound.
WRITE_CACHE_SIZE = 12


@dataclass(eq=False, slots=True)
class Consumer:
    tag: str
    queue: Queue
    channel: ChannelState
    no_ack: bool
    exclusive: bool
    prefetch: int
    arguments: dict[str, Any] = field(default_factory=dict)
    priority: int = 0  # x-priority
    unacked: int = 0

    def has_capacity(self) -> bool:
        if self.no_ack:
            return True
        if self.prefetch and self.unacked >= self.prefetch:
            return False
        channel = self.channel
        return not channel.global_prefetch or len(channel.unacked) < channel.global_prefetch


@dataclass(eq=False, slots=True)
class Delivery:
    tag: int
    queue: Queue
    entry: QueuedMessage
    consumer: Consumer | None  # None for basic.get


class ChannelState:
    def __init__(self, number: int, owner: object) -> None:
        self.number = number
        self.owner = owner  # the connection this channel belongs to
        self.consumers: dict[str, Consumer] = {}
        self.unacked: dict[int, Delivery] = {}
        self._order: deque[int] = deque()  # unacked tags in order, plus some already settled
        self.next_tag = 1
        self.consumer_prefetch = 0  # basic.qos global=false: for consumers created after it
        self.global_prefetch = 0  # basic.qos global=true: shared by the channel
        self.confirm_mode = False
        self.publish_seq = 0  # the last publish sequence number given out
        self.confirmed_upto = 0  # the last one confirmed (acked or nacked) to the publisher
        self.nacked: set[int] = set()  # unconfirmed sequence numbers that get basic.nack
        # (publish seq, store operation) of persistent publishes waiting for the durable store:
        # none of them, nor anything published after them, is confirmed before its fsync.
        self.durable_waits: deque[tuple[int, int]] = deque()
        self.tx_mode = False
        # The queue most recently declared here: what an empty queue name means (the spec's
        # shortcut, which RabbitMQ keeps) in queue.bind/unbind/purge/delete, basic.consume/get.
        self.last_declared_queue = ""
        # Held until tx.commit: publishes (opaque to this module) and settled deliveries with
        # whether to requeue them. tx.rollback drops the publishes and restores the deliveries.
        self.tx_publishes: list[Any] = []
        self.tx_settlements: list[tuple[list[Delivery], bool | None]] = []
        # Exchanges this channel may publish to, as the user store answered at `generation`
        # (RabbitMQ caches permission checks per channel too; ours is dropped on any change).
        self._writable: set[str] = set()
        self._writable_generation = 0

    def may_write(self, exchange: str, generation: int) -> bool:
        """Whether a publish to `exchange` passed the permission check since `generation`."""
        return self._writable_generation == generation and exchange in self._writable

    def allowed_write(self, exchange: str, generation: int) -> None:
        """The user store allowed a publish to `exchange` at `generation`: remember it."""
        if self._writable_generation != generation or len(self._writable) >= WRITE_CACHE_SIZE:
            self._writable = set()
            self._writable_generation = generation
        self._writable.add(exchange)

    def take_confirms(self, upto: int | None = None) -> list[tuple[bool, int, bool]]:
        """The confirms due for publishes up to `upto` (default: all), as
        (is_ack, delivery_tag, multiple), grouped the way RabbitMQ's coalesce_and_send does
        (measured on 3.10.8): first the acks, those below the first nack as one method
        (`multiple` when it covers more than one publish) and the rest one by one; then the
        nacks the same way, cut at the first ack of the batch."""
        last = self.publish_seq if upto is None else upto
        first = self.confirmed_upto + 1
        self.confirmed_upto = max(self.confirmed_upto, last)
        if first > last:
            return []
        if not self.nacked:
            return [(True, last, last > first)]
        nacks = sorted(seq for seq in self.nacked if seq <= last)
        self.nacked.difference_update(nacks)
        refused = set(nacks)
        acks = [seq for seq in range(first, last + 1) if seq not in refused]
        return _coalesce(True, acks, nacks, last + 1) + _coalesce(False, nacks, acks, last + 1)

    def new_tag(self) -> int:
        tag = self.next_tag
        self.next_tag += 1
        return tag

    def track(self, queue: Queue, entry: QueuedMessage, consumer: Consumer | None) -> int:
        tag = self.new_tag()
        self.unacked[tag] = Delivery(tag, queue, entry, consumer)
        self._order.append(tag)
        queue.unacked_count += 1
        if consumer is not None:
            consumer.unacked += 1
        return tag

    def settle(self, tag: int, multiple: bool, class_id: int, method_id: int) -> list[Delivery]:
        """Remove and return the deliveries an ack/nack/reject names.

        Raises AMQPError(PRECONDITION_FAILED) for a tag that is unknown or already settled;
        multiple with tag 0 means every outstanding delivery.
        """
        unacked = self.unacked
        if multiple and tag == 0:
            settled = list(unacked.values())
            unacked.clear()
            self._order.clear()
        elif multiple:
            # As RabbitMQ's collect_acks: the named tag itself must be outstanding.
            if tag not in unacked:
                raise _unknown_tag(tag, class_id, method_id)
            settled = []
            order = self._order
            while order and order[0] <= tag:
                delivery = unacked.pop(order.popleft(), None)
                if delivery is not None:
                    settled.append(delivery)
        else:
            delivery = unacked.pop(tag, None)
            if delivery is None:
                raise _unknown_tag(tag, class_id, method_id)
            settled = [delivery]
            if len(self._order) > 2 * len(unacked) + 64:
                self._order = deque(unacked)  # drop the settled tags singles left behind
        for delivery in settled:
            _release(delivery)
        return settled

    def deliver(
        self, queue: Queue, entry: QueuedMessage, consumer: Consumer | None, *, no_ack: bool
    ) -> int:
        """The delivery tag for a message leaving `queue`; in no-ack mode it is gone for good."""
        if no_ack:
            queue.remove(entry, Removal.ACKED)
            return self.new_tag()
        return self.track(queue, entry, consumer)

    def rollback_settlements(self) -> None:
        """Void the acks, nacks and rejects held for tx.commit: those deliveries are unacked
        again, in tag order (tx.rollback, or the channel closing mid-transaction)."""
        for deliveries, _requeue in self.tx_settlements:
            for delivery in deliveries:
                self.unacked[delivery.tag] = delivery
                delivery.queue.unacked_count += 1
                if delivery.consumer is not None:
                    delivery.consumer.unacked += 1
        if self.tx_settlements:
            self.unacked = dict(sorted(self.unacked.items()))
            self._order = deque(self.unacked)
        self.tx_settlements = []

    def take_all_unacked(self) -> list[Delivery]:
        settled = list(self.unacked.values())
        self.unacked.clear()
        self._order.clear()
        for delivery in settled:
            _release(delivery)
        return settled


def _coalesce(
    is_ack: bool, seqs: list[int], others: list[int], unconfirmed: int
) -> list[tuple[bool, int, bool]]:
    cutoff = min(unconfirmed, others[0]) if others else unconfirmed
    below = [seq for seq in seqs if seq < cutoff]
    runs = [(is_ack, below[-1], len(below) > 1)] if below else []
    return runs + [(is_ack, seq, False) for seq in seqs if seq >= cutoff]


def _release(delivery: Delivery) -> None:
    delivery.queue.unacked_count -= 1
    if delivery.consumer is not None:
        delivery.consumer.unacked -= 1


def _unknown_tag(tag: int, class_id: int, method_id: int) -> AMQPError:
    return AMQPError(
        ReplyCode.PRECONDITION_FAILED, f"unknown delivery tag {tag}", class_id, method_id
    )
