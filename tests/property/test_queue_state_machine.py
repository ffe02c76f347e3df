# A hypothesis state machine for a queue and a channel against a plain model: no message lost or
# duplicated, delivery order = priority first, then publication order (requeued messages return to
# their original position), prefetch never exceeded.
from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from pamqp.commands import Basic

from amqp_broker.core.channel import ChannelState, Consumer
from amqp_broker.core.message import Message
from amqp_broker.core.queue import Queue
from amqp_broker.core.queue_arguments import QueueOptions
from amqp_broker.errors import AMQPError

MAX_PRIORITY = 3
PREFETCH = 3


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.queue = Queue("q", "/", options=QueueOptions(max_priority=MAX_PRIORITY))
        self.channel = ChannelState(1, owner=None)
        self.consumer = Consumer("c", self.queue, self.channel, False, False, PREFETCH)
        self.next_id = 0
        # model: id -> (priority, publication number); ready ids; unacked tag -> id
        self.published: dict[int, tuple[int, int]] = {}
        self.ready: set[int] = set()
        self.unacked: dict[int, int] = {}
        self.gone: set[int] = set()

    def _expected_next(self) -> int:
        return min(self.ready, key=lambda i: (-self.published[i][0], self.published[i][1]))

    @rule(priority=st.integers(0, MAX_PRIORITY + 2))
    def publish(self, priority: int) -> None:
        ident = self.next_id
        self.next_id += 1
        properties = Basic.Properties(priority=priority)
        self.queue.publish(Message("", "q", b"", properties, str(ident).encode()))
        self.published[ident] = (min(priority, MAX_PRIORITY), ident)
        self.ready.add(ident)

    @precondition(lambda self: len(self.unacked) < PREFETCH)
    @rule()
    def deliver(self) -> None:
        assert self.consumer.has_capacity()
        entry = self.queue.pop()
        if not self.ready:
            assert entry is None
            return
        assert entry is not None
        ident = int(entry.message.body)
        assert ident == self._expected_next()
        tag = self.channel.track(self.queue, entry, self.consumer)
        self.ready.discard(ident)
        self.unacked[tag] = ident

    @precondition(lambda self: len(self.unacked) >= PREFETCH)
    @rule()
    def full_consumer_has_no_capacity(self) -> None:
        assert not self.consumer.has_capacity()

    @precondition(lambda self: bool(self.unacked))
    @rule(data=st.data(), multiple=st.booleans())
    def ack(self, data: st.DataObject, multiple: bool) -> None:
        tag = data.draw(st.sampled_from(sorted(self.unacked)))
        settled = self.channel.settle(tag, multiple, 60, 80)
        expected = [t for t in sorted(self.unacked) if t == tag or (multiple and t < tag)]
        assert [d.tag for d in settled] == expected
        for t in expected:
            self.gone.add(self.unacked.pop(t))

    @precondition(lambda self: bool(self.unacked))
    @rule(data=st.data(), multiple=st.booleans())
    def nack_requeue(self, data: st.DataObject, multiple: bool) -> None:
        tag = data.draw(st.sampled_from(sorted(self.unacked)))
        for delivery in self.channel.settle(tag, multiple, 60, 120):
            self.queue.requeue(delivery.entry)
            self.ready.add(self.unacked.pop(delivery.tag))

    @rule(tag=st.integers(0, 50))
    def ack_unknown_tag_is_406(self, tag: int) -> None:
        if tag in self.unacked:
            return
        try:
            self.channel.settle(tag, False, 60, 80)
        except AMQPError as error:
            assert error.code == 406
        else:
            raise AssertionError("an unknown tag was accepted")

    @rule()
    def close_channel(self) -> None:
        for delivery in self.channel.take_all_unacked():
            self.queue.requeue(delivery.entry)
        self.ready.update(self.unacked.values())
        self.unacked.clear()

    @invariant()
    def nothing_lost_or_duplicated(self) -> None:
        ready_ids = [int(entry.message.body) for entry in self.queue.ready_messages()]
        assert len(ready_ids) == len(set(ready_ids)) == self.queue.ready_count
        assert set(ready_ids) == self.ready
        assert set(self.unacked.values()).isdisjoint(self.ready)
        accounted = self.ready | set(self.unacked.values()) | self.gone
        assert accounted == set(self.published)
        assert self.queue.unacked_count == len(self.unacked) == self.consumer.unacked

    @invariant()
    def ready_order_is_priority_then_publication(self) -> None:
        ready_ids = [int(entry.message.body) for entry in self.queue.ready_messages()]
        keys = [(-self.published[i][0], self.published[i][1]) for i in ready_ids]
        assert keys == sorted(keys)

    @invariant()
    def prefetch_never_exceeded(self) -> None:
        assert len(self.unacked) <= PREFETCH


TestQueueMachine = QueueMachine.TestCase
