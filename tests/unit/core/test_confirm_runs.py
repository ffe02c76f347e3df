# Publisher confirms: acks and nacks grouped the way RabbitMQ 3.10.8 sends them.
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


def test_rabbitmq_measured_reject_publish_confirms() -> None:
    # 3.10.8, max-length 1 reject-publish, four publishes then one unroutable, confirmed in
    # two batches: basic.ack 1; then basic.ack 5, basic.nack 4 multiple (2..4)
    channel = _channel(1, set())
    assert channel.take_confirms() == [(True, 1, False)]
    channel.publish_seq = 5
    channel.nacked = {2, 3, 4}
    assert channel.take_confirms() == [(True, 5, False), (False, 4, True)]


def test_acks_come_first_and_coalesce_below_the_first_nack() -> None:
    channel = _channel(6, {3, 4})
    assert channel.take_confirms() == [
        (True, 2, True),
        (True, 5, False),
        (True, 6, False),
        (False, 3, False),
        (False, 4, False),
    ]
    assert channel.nacked == set()
    assert channel.take_confirms() == []


def test_nacks_after_an_ack_go_one_by_one() -> None:
    assert _channel(3, {2, 3}).take_confirms() == [
        (True, 1, False),
        (False, 2, False),
        (False, 3, False),
    ]


def test_confirms_continue_from_the_last_confirmed() -> None:
    channel = _channel(2, set())
    channel.take_confirms()
    channel.publish_seq = 4
    channel.nacked = {3}
    assert channel.take_confirms() == [(True, 4, False), (False, 3, False)]


def test_confirms_up_to_a_limit_keep_later_nacks() -> None:
    channel = _channel(5, {5})
    assert channel.take_confirms(upto=3) == [(True, 3, True)]
    assert channel.take_confirms() == [(True, 4, False), (False, 5, False)]
