# Publisher confirms as runs of acks and nacks, in sequence order.
from __future__ import annotations

from amqp_broker.core.channel import ChannelState


def _channel(published: int, nacked: set[int]) -> ChannelState:
    channel = ChannelState(1, owner=None)
    channel.publish_seq = published
    channel.nacked = set(nacked)
    return channel


def test_all_acked_is_one_multiple_ack() -> None:
    assert _channel(5, set()).take_confirms() == [(True, 5, True)]


def test_single_publish_is_not_multiple() -> None:
    assert _channel(1, set()).take_confirms() == [(True, 1, False)]


def test_nacks_split_the_acks_in_order() -> None:
    channel = _channel(6, {3, 4})
    assert channel.take_confirms() == [(True, 2, True), (False, 4, True), (True, 6, True)]
    assert channel.nacked == set()
    assert channel.take_confirms() == []


def test_confirms_continue_from_the_last_confirmed() -> None:
    channel = _channel(2, set())
    channel.take_confirms()
    channel.publish_seq = 4
    channel.nacked = {3}
    assert channel.take_confirms() == [(False, 3, False), (True, 4, False)]


def test_confirms_up_to_a_limit_keep_later_nacks() -> None:
    channel = _channel(5, {5})
    assert channel.take_confirms(upto=3) == [(True, 3, True)]
    assert channel.take_confirms() == [(True, 4, False), (False, 5, False)]
