# The store against a model: any sequence of publishes (persistent or not), deliveries, acks,
# requeues, purges and restarts leaves exactly the model's messages after a restart, in queue
# order, redelivered exactly when a client saw them; and no segment file outlives its messages.
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from pamqp.commands import Basic

from amqp_broker.core.message import Message, QueuedMessage
from amqp_broker.core.queue import Queue, Removal
from amqp_broker.core.vhost import VirtualHost
from amqp_broker.protocol.codec import encode_properties
from amqp_broker.store import DurableStore, QueueJournal, open_store

PERSISTENT = Basic.Properties(delivery_mode=2)
TRANSIENT = Basic.Properties(delivery_mode=1)


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.path = tempfile.mkdtemp()
        self.next_id = 0
        self.ready: list[int] = []  # ids in queue order (= publication order)
        self.unacked: dict[int, QueuedMessage] = {}
        self.persistent: set[int] = set()
        self.seen: set[int] = set()
        self.store, self.queue = self._open(first=True)

    def _open(self, first: bool = False) -> tuple[DurableStore, Queue]:
        vhosts = {"/": VirtualHost("/")}
        store = open_store(
            self.path, fsync=False, vhosts=vhosts, add_vhost=vhosts.__getitem__, segment_size=300
        )
        vhost = vhosts["/"]
        if first:
            queue = vhost.declare_queue("q", owner=None, durable=True)
            store.attach(queue)
            store.definitions_changed(vhost)
        return store, vhost.queues["q"]

    @rule(persistent=st.booleans(), size=st.integers(0, 120))
    def publish(self, persistent: bool, size: int) -> None:
        number = self.next_id
        self.next_id += 1
        properties = PERSISTENT if persistent else TRANSIENT
        body = number.to_bytes(4, "big") + b"x" * size
        self.queue.publish(Message("", "q", encode_properties(properties), properties, body))
        self.ready.append(number)
        if persistent:
            self.persistent.add(number)

    @precondition(lambda self: self.ready)
    @rule()
    def deliver(self) -> None:
        entry = self.queue.pop()
        assert entry is not None
        number = int.from_bytes(entry.message.body[:4], "big")
        assert number == self.ready.pop(0)
        assert entry.redelivered == (number in self.seen)
        self.seen.add(number)
        self.unacked[number] = entry

    @precondition(lambda self: self.unacked)
    @rule(data=st.data())
    def ack(self, data: st.DataObject) -> None:
        number = data.draw(st.sampled_from(sorted(self.unacked)))
        self.queue.remove(self.unacked.pop(number), Removal.ACKED)

    @precondition(lambda self: self.unacked)
    @rule(data=st.data())
    def requeue(self, data: st.DataObject) -> None:
        number = data.draw(st.sampled_from(sorted(self.unacked)))
        self.queue.requeue(self.unacked.pop(number))
        self.ready = sorted([*self.ready, number])

    @rule()
    def purge(self) -> None:
        self.queue.purge()
        self.ready = []

    @rule()
    def restart(self) -> None:
        self.store.flush()
        self.store.close()
        self.store, self.queue = self._open()
        survivors = sorted({*self.ready, *self.unacked} & self.persistent)
        self.ready, self.unacked = survivors, {}
        recovered = [
            (int.from_bytes(entry.message.body[:4], "big"), entry.redelivered)
            for entry in self.queue.ready_messages()
        ]
        assert recovered == [(number, number in self.seen) for number in survivors]

    @invariant()
    def no_segment_outlives_its_messages(self) -> None:
        self.store.flush()
        journal = self.queue.journal
        assert isinstance(journal, QueueJournal)
        segments = {int(path.stem) for path in Path(self.path).glob("queues/*/*.seg")}
        assert segments <= {*journal.live, journal.segment}

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.path, ignore_errors=True)


StoreMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
test_store_matches_model = StoreMachine.TestCase
