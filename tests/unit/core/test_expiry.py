# Per-message TTL parsing (texts measured on RabbitMQ 3.10.8) and the deadline schedule.
from __future__ import annotations

import pytest

from amqp_broker.core.expiry import DeadlineSchedule, message_deadline, parse_expiration
from amqp_broker.errors import AMQPError, ReplyCode


@pytest.mark.parametrize(
    ("expiration", "ttl"),
    [(None, None), ("0", 0), ("+5", 5), ("007", 7), ("315360000000", 315360000000)],
)
def test_valid_expiration(expiration: str | None, ttl: int | None) -> None:
    assert parse_expiration(expiration) == ttl


@pytest.mark.parametrize(
    ("expiration", "text"),
    [
        ("abc", "invalid expiration 'abc': no_integer"),
        ("", "invalid expiration '': no_integer"),
        (" 5", "invalid expiration ' 5': no_integer"),
        ("é", "invalid expiration 'é': no_integer"),
        ("-1", "invalid expiration '-1': {value_negative,-1}"),
        ("10x", "invalid expiration '10x': {leftover_string,\"x\"}"),
        ("1.5", "invalid expiration '1.5': {leftover_string,\".5\"}"),
        ("315360000001", "invalid expiration '315360000001': {value_too_large,315360000001}"),
        (
            "123456789012345678",
            "invalid expiration '123456789012345678': {value_too_large,123456789012345678}",
        ),
        (
            "1234567890123456789",
            "invalid expiration '1234567890123456789': {value_too_large,\n"
            + " " * 43
            + "1234567890123456789}",
        ),
    ],
)
def test_invalid_expiration_text(expiration: str, text: str) -> None:
    with pytest.raises(AMQPError) as caught:
        parse_expiration(expiration)
    assert caught.value.code == ReplyCode.PRECONDITION_FAILED
    assert caught.value.detail == text


def test_lower_ttl_wins() -> None:
    assert message_deadline(10.0, None, None) is None
    assert message_deadline(10.0, 500, None) == 10.5
    assert message_deadline(10.0, None, 250) == 10.25
    assert message_deadline(10.0, 500, 250) == 10.25
    assert message_deadline(10.0, 100, 250) == 10.1


def test_schedule_keeps_one_deadline_per_key() -> None:
    schedule: DeadlineSchedule[str] = DeadlineSchedule()
    schedule.set("a", 5.0)
    schedule.set("b", 3.0)
    schedule.set("b", 7.0)  # supersedes 3.0
    assert schedule.next_deadline() == 5.0
    assert schedule.pop_due(6.0) == ["a"]
    assert schedule.pop_due(6.0) == []
    schedule.set("b", None)
    assert schedule.next_deadline() is None
    assert len(schedule) == 0


def test_schedule_pops_everything_due_in_deadline_order() -> None:
    schedule: DeadlineSchedule[str] = DeadlineSchedule()
    for key, deadline in (("c", 3.0), ("a", 1.0), ("b", 2.0), ("d", 9.0)):
        schedule.set(key, deadline)
    assert schedule.pop_due(3.0) == ["a", "b", "c"]
    assert schedule.next_deadline() == 9.0
