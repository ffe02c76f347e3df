# A hypothesis state machine for a queue with TTLs, a length limit and a dead-letter exchange,
# driven with an explicit clock: no message is lost or duplicated (each is ready, unacked, or
# removed exactly once with one reason), an expired message is never handed out, expiry only
# happens at the head, the limit holds after drop-head, and the memory meter matches.
from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from pamqp.commands import Basic

from amqp_broker.core.message import Message, QueuedMessage
from amqp_broker.core.queue import Queue, Removal
from amqp_broker.core.queue_arguments import QueueOptions

MAX_LENGTH = 3


class QueueTimeMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.queue = Queue(
            "q",
            "/",
            options=QueueOptions(
                message_ttl=15, max_length=MAX_LENGTH, dead_letter_exchange="dlx", max_priority=2
            ),
        )
        self.now = 0.0
        self.entries: list[QueuedMessage] = []
        self.unacked: list[QueuedMessage] = []
        self.removed: dict[int, Removal] = {}  # id(entry) -> why

    def _collect(self) -> None:
        for entry, reason in self.queue.take_dead_letters():
            assert id(entry) not in self.removed
            self.removed[id(entry)] = reason

    @rule(
        ttl=st.sampled_from([None, 0, 5, 20]),
        size=st.integers(0, 4),
        priority=st.integers(0, 3),
    )
    def publish(self, ttl: int | None, size: int, priority: int) -> None:
        properties = Basic.Properties(priority=priority or None)
        message = Message("", "q", b"", properties, b"x" * size, ttl=ttl)
        self.entries.append(self.queue.publish(message, self.now))

    @rule(milliseconds=st.integers(0, 12))
    def advance(self, milliseconds: int) -> None:
        self.now += milliseconds / 1000

    @rule()
    def pop(self) -> None:
        entry = self.queue.pop(self.now)
        self._collect()
        if entry is not None:
            assert entry.expires_at is None or self.now < entry.expires_at
            assert id(entry) not in self.removed
            self.unacked.append(entry)

    @precondition(lambda self: self.unacked)
    @rule(index=st.integers(0, 100), outcome=st.sampled_from(["ack", "reject", "requeue"]))
    def settle(self, index: int, outcome: str) -> None:
        entry = self.unacked.pop(index % len(self.unacked))
        if outcome == "requeue":
            self.queue.requeue(entry)
            return
        reason = Removal.ACKED if outcome == "ack" else Removal.REJECTED
        self.queue.remove(entry, reason)
        if reason is Removal.ACKED:
            self.removed[id(entry)] = reason
        self._collect()

    @rule()
    def upkeep(self) -> None:
        self.queue.drop_over_limit()  # the broker's order
        self.queue.drop_expired(self.now)
        self._collect()
        assert self.queue.ready_count <= MAX_LENGTH
        for level in self.queue._levels:
            head = level.head()
            assert head is None or head.expires_at is None or self.now < head.expires_at

    @invariant()
    def every_message_is_in_exactly_one_place(self) -> None:
        ready = {id(entry) for entry in self.queue.ready_messages()}
        unacked = {id(entry) for entry in self.unacked}
        assert len(ready) == self.queue.ready_count
        assert not ready & unacked
        assert not (ready | unacked) & set(self.removed)
        assert ready | unacked | set(self.removed) == {id(entry) for entry in self.entries}

    @invariant()
    def memory_meter_matches(self) -> None:
        held = [e for e in self.entries if id(e) not in self.removed]
        assert self.queue.meter.used == sum(len(e.message.body) for e in held)
        ready_bytes = sum(len(e.message.body) for e in self.queue.ready_messages())
        assert self.queue.ready_bytes == ready_bytes

    @invariant()
    def next_deadline_is_a_head_deadline(self) -> None:
        heads = [
            head.expires_at
            for level in self.queue._levels
            if (head := level.head()) is not None and head.expires_at is not None
        ]
        assert self.queue.next_deadline() == min(heads, default=None)


TestQueueTimeMachine = QueueTimeMachine.TestCase
