# Queue rules with an explicit clock: TTL at the head, length limits, removal reasons,
# dead-letter collection, x-expires deadlines, consumer priorities and single active consumer.
from __future__ import annotations

from pamqp.commands import Basic

from amqp_broker.core.channel import ChannelState, Consumer
from amqp_broker.core.message import Message
from amqp_broker.core.queue import Queue, Removal
from amqp_broker.core.queue_arguments import Overflow, QueueOptions


def _message(body: bytes = b"m", ttl: int | None = None, priority: int = 0) -> Message:
    properties = Basic.Properties(priority=priority or None)
    return Message("", "q", properties.marshal(), properties, body, ttl=ttl)


def _queue(**options: object) -> Queue:
    return Queue("q", "/", options=QueueOptions(**options))  # type: ignore[arg-type]


def _bodies(queue: Queue) -> list[bytes]:
    return [entry.message.body for entry in queue.ready_messages()]


def test_queue_ttl_expires_at_the_deadline_not_before() -> None:
    queue = _queue(message_ttl=100, dead_letter_exchange="dlx")
    entry = queue.publish(_message(), now=1.0)
    assert entry.expires_at == 1.1
    assert queue.next_deadline() == 1.1
    queue.drop_expired(1.0999)
    assert queue.ready_count == 1
    queue.drop_expired(1.1)
    assert queue.ready_count == 0
    assert queue.take_dead_letters() == [(entry, Removal.EXPIRED)]


def test_the_lower_of_queue_and_message_ttl_wins() -> None:
    queue = _queue(message_ttl=100)
    assert queue.publish(_message(ttl=30), now=0.0).expires_at == 0.03
    assert queue.publish(_message(ttl=500), now=0.0).expires_at == 0.1


def test_expired_message_is_never_handed_out() -> None:
    queue = _queue(message_ttl=10)
    queue.publish(_message(b"old"), now=0.0)
    queue.publish(_message(b"new"), now=0.005)
    entry = queue.pop(now=0.012)
    assert entry is not None and entry.message.body == b"new"


def test_per_message_ttl_is_only_applied_at_the_head() -> None:
    # RabbitMQ: a message expired behind a longer-lived head stays until it reaches the head
    queue = _queue()
    queue.publish(_message(b"long", ttl=60000), now=0.0)
    queue.publish(_message(b"short", ttl=10), now=0.0)
    queue.drop_expired(1.0)
    assert queue.ready_count == 2
    assert queue.next_deadline() == 60.0
    head = queue.pop(now=1.0)
    assert head is not None and head.message.body == b"long"
    assert queue.ready_count == 0  # dropped as soon as it became the head (3.10.8: GetOk count 0)


def test_ttl_zero_goes_only_to_a_consumer_waiting_now() -> None:
    queue = _queue(message_ttl=0)
    entry = queue.publish(_message(), now=5.0)
    assert queue.pop(now=5.0, fresh=entry) is entry
    queue.publish(_message(), now=5.0)
    assert queue.pop(now=5.0) is None
    assert queue.ready_count == 0


def test_requeued_message_keeps_its_deadline() -> None:
    queue = _queue(message_ttl=100, dead_letter_exchange="")
    entry = queue.publish(_message(), now=0.0)
    assert queue.pop(now=0.05) is entry
    queue.requeue(entry)
    queue.drop_expired(0.2)
    assert queue.take_dead_letters() == [(entry, Removal.EXPIRED)]


def test_drop_head_keeps_the_newest_and_dead_letters_the_oldest() -> None:
    queue = _queue(max_length=2, dead_letter_exchange="dlx")
    first = queue.publish(_message(b"1"))
    queue.publish(_message(b"2"))
    queue.publish(_message(b"3"))
    queue.drop_over_limit()
    assert _bodies(queue) == [b"2", b"3"]
    assert queue.take_dead_letters() == [(first, Removal.MAXLEN)]


def test_max_length_bytes_counts_ready_bodies() -> None:
    queue = _queue(max_length_bytes=10)
    queue.publish(_message(b"123456"))
    queue.publish(_message(b"7890"))
    queue.drop_over_limit()
    assert queue.ready_count == 2
    queue.publish(_message(b"x"))
    queue.drop_over_limit()
    assert _bodies(queue) == [b"7890", b"x"]


def test_unacked_messages_do_not_count_against_the_limit() -> None:
    queue = _queue(max_length=1, overflow=Overflow.REJECT_PUBLISH)
    queue.publish(_message())
    assert queue.would_overflow(_message())
    assert queue.pop() is not None
    assert not queue.would_overflow(_message())


def test_reject_publish_never_drops_the_head() -> None:
    queue = _queue(max_length=0, overflow=Overflow.REJECT_PUBLISH)
    queue.publish(_message())
    entry = queue.pop()
    assert entry is not None
    queue.requeue(entry)  # a requeue may exceed the limit; only publishes are refused
    queue.drop_over_limit()
    assert queue.ready_count == 1


def test_only_dead_lettering_reasons_are_collected_and_only_with_a_dlx() -> None:
    plain = _queue()
    plain.remove(plain.publish(_message()), Removal.REJECTED)
    assert plain.take_dead_letters() == []
    queue = _queue(dead_letter_exchange="dlx")
    queue.publish(_message())
    queue.purge()
    entry = queue.publish(_message())
    assert queue.pop() is entry
    queue.remove(entry, Removal.ACKED)
    assert queue.take_dead_letters() == []
    rejected = queue.publish(_message())
    queue.pop()
    queue.remove(rejected, Removal.REJECTED)
    assert queue.take_dead_letters() == [(rejected, Removal.REJECTED)]


def test_deleting_drops_without_dead_lettering() -> None:
    queue = _queue(dead_letter_exchange="dlx")
    queue.publish(_message())
    unacked = queue.publish(_message())
    assert queue.delete() == 2
    queue.remove(unacked, Removal.REJECTED)
    assert queue.take_dead_letters() == []


def test_every_removal_releases_the_memory_it_held() -> None:
    queue = _queue(max_length=1, message_ttl=10)
    acked = queue.publish(_message(b"abc"), now=0.0)
    assert queue.pop(now=0.0) is acked
    queue.remove(acked, Removal.ACKED)
    queue.publish(_message(b"dropped"), now=0.0)
    queue.publish(_message(b"expires"), now=0.0)
    queue.drop_over_limit()
    queue.drop_expired(1.0)
    queue.publish(_message(b"purged"), now=1.0)
    queue.purge()
    queue.publish(_message(b"deleted"), now=1.0)
    queue.delete()
    assert queue.meter.used == 0


def test_x_expires_deadline_counts_from_the_last_use_without_consumers() -> None:
    queue = Queue("q", "/", options=QueueOptions(expires=1000), now=2.0)
    assert queue.next_deadline() == 3.0
    queue.touch(2.5)
    assert queue.unused_deadline() == 3.5
    consumer = Consumer("c", queue, ChannelState(1, owner=None), False, False, 0)
    queue.add_consumer(consumer)
    assert queue.next_deadline() is None
    queue.remove_consumer(consumer)
    queue.touch(4.0)
    assert queue.next_deadline() == 5.0


def _consumers(queue: Queue, *priorities: int) -> list[Consumer]:
    channel = ChannelState(1, owner=None)
    made = []
    for index, priority in enumerate(priorities):
        consumer = Consumer(f"c{index}", queue, channel, False, False, 0, priority=priority)
        queue.add_consumer(consumer)
        made.append(consumer)
    return made


def test_highest_priority_consumer_with_room_gets_the_message() -> None:
    queue = _queue()
    low, high = _consumers(queue, 0, 10)
    assert queue.next_consumer(lambda consumer: True) is high
    assert queue.next_consumer(lambda consumer: consumer is not high) is low
    assert queue.next_consumer(lambda consumer: False) is None


def test_equal_priorities_take_turns() -> None:
    queue = _queue()
    a, b, _low = _consumers(queue, 5, 5, 1)
    picks = [queue.next_consumer(lambda consumer: True) for _ in range(4)]
    assert picks == [a, b, a, b]


def test_single_active_consumer_is_the_earliest_registered() -> None:
    queue = _queue(single_active_consumer=True)
    first, second = _consumers(queue, 0, 0)
    assert queue.next_consumer(lambda consumer: True) is first
    assert queue.next_consumer(lambda consumer: consumer is second) is None
    queue.remove_consumer(first)
    assert queue.next_consumer(lambda consumer: True) is second
    assert queue.is_active(second)
