# Settling with multiple=true finds its prefix through a deque of tags; single acks leave stale
# tags there, which are skipped and compacted. These tests pin the results and the bound.
from __future__ import annotations

from pamqp.commands import Basic

from amqp_broker.core.channel import ChannelState
from amqp_broker.core.message import Message
from amqp_broker.core.queue import Queue


def _channel_with(count: int) -> tuple[ChannelState, Queue]:
    channel = ChannelState(1, object())
    queue = Queue("q", "/")
    for _ in range(count):
        entry = queue.publish(Message("", "q", b"\x00\x00", Basic.Properties(), b"x"))
        queue.pop()
        channel.track(queue, entry, None)
    return channel, queue


def test_single_acks_then_multiple_settle_exactly_the_rest_in_order() -> None:
    channel, queue = _channel_with(1000)
    for tag in range(2, 1000, 2):  # every even tag but 1000, one by one
        assert [d.tag for d in channel.settle(tag, False, 60, 80)] == [tag]
    settled = channel.settle(999, True, 60, 80)
    assert [d.tag for d in settled] == list(range(1, 1000, 2))
    assert list(channel.unacked) == [1000]
    assert queue.unacked_count == 1


def test_stale_tags_from_single_acks_stay_bounded() -> None:
    channel, _ = _channel_with(5000)
    for tag in range(1, 4990):
        channel.settle(tag, False, 60, 80)
    assert len(channel._order) <= 2 * len(channel.unacked) + 64
    assert [d.tag for d in channel.settle(5000, True, 60, 80)] == list(range(4990, 5001))
    assert not channel.unacked
