# A channel's cache of publish permission checks: an answer is only reused at the user store's
# generation it was given at, and the cache stays small.
from __future__ import annotations

from amqp_broker.core.channel import WRITE_CACHE_SIZE, ChannelState


def test_an_allowed_exchange_is_remembered_at_its_generation_only() -> None:
    channel = ChannelState(1, object())
    assert not channel.may_write("x", 5)
    channel.allowed_write("x", 5)
    assert channel.may_write("x", 5)
    assert not channel.may_write("y", 5)
    assert not channel.may_write("x", 6)  # the store changed: ask it again
    channel.allowed_write("y", 6)
    assert channel.may_write("y", 6)
    assert not channel.may_write("x", 6)


def test_the_cache_holds_a_bounded_number_of_exchanges() -> None:
    channel = ChannelState(1, object())
    for number in range(WRITE_CACHE_SIZE * 3):
        channel.allowed_write(f"x{number}", 1)
        assert channel.may_write(f"x{number}", 1)
    assert sum(channel.may_write(f"x{n}", 1) for n in range(WRITE_CACHE_SIZE * 3)) <= (
        WRITE_CACHE_SIZE
    )
