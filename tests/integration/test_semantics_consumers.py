# Consumer and acknowledgement semantics with pika (and py-amqp where pika checks client-side):
# exclusivity, tag reuse, round-robin, FIFO, requeue position, ack/nack/reject, recover and qos.
from __future__ import annotations

import time
from collections.abc import Callable

import amqp
import amqp.exceptions
import pika
import pika.exceptions
import pytest
from amqp_clients import amqp_connect, connect, ready_count, vhost_of
from pika.adapters.blocking_connection import BlockingChannel

Delivery = tuple[str, bytes, int, bool]  # consumer tag, body, delivery tag, redelivered


def _recorder(into: list[Delivery]) -> Callable[..., None]:
    def on_message(
        channel: BlockingChannel,
        method: pika.spec.Basic.Deliver,
        properties: pika.BasicProperties,
        body: bytes,
    ) -> None:
        into.append((method.consumer_tag, body, method.delivery_tag, method.redelivered))

    return on_message


def _wait_for(connection: pika.BlockingConnection, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 3
    while not done():
        assert time.monotonic() < deadline, "timed out waiting for deliveries"
        connection.process_data_events(time_limit=0.05)


def _publish(channel: BlockingChannel, queue: str, bodies: list[bytes]) -> None:
    for body in bodies:
        channel.basic_publish("", queue, body)


def _get(channel: BlockingChannel, queue: str) -> tuple[pika.spec.Basic.GetOk, bytes]:
    method, _properties, body = channel.basic_get(queue)
    assert method is not None, f"queue {queue!r} unexpectedly empty"
    return method, body


# ---- exclusivity and tags ----------------------------------------------------------------------


def test_exclusive_consumer_refuses_other_consumers_403(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("solo")
        channel.basic_consume("solo", lambda *args: None, exclusive=True)
        other = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            other.basic_consume("solo", lambda *args: None)
    assert info.value.reply_code == 403
    assert info.value.reply_text == (
        f"ACCESS_REFUSED - queue 'solo' in vhost '{vhost_of(amqp_url)}' in exclusive use"
    )


def test_exclusive_consume_on_a_queue_with_consumers_is_403(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("shared")
        channel.basic_consume("shared", lambda *args: None)
        other = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            other.basic_consume("shared", lambda *args: None, exclusive=True)
    assert info.value.reply_code == 403


def test_duplicate_consumer_tag_on_a_channel_closes_connection_530(amqp_url: str) -> None:
    # pika refuses a duplicate tag client-side; py-amqp sends it.
    connection = amqp_connect(amqp_url)
    try:
        channel = connection.channel()
        channel.queue_declare("tagged")
        channel.basic_consume("tagged", consumer_tag="dup", callback=lambda message: None)
        with pytest.raises(amqp.exceptions.NotAllowed) as info:
            channel.basic_consume("tagged", consumer_tag="dup", callback=lambda message: None)
    finally:
        connection.collect()
    assert info.value.reply_code == 530
    assert info.value.reply_text == "NOT_ALLOWED - attempt to reuse consumer tag 'dup'"


def test_same_consumer_tag_on_two_channels_is_allowed(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        first, second = connection.channel(), connection.channel()
        first.queue_declare("twice")
        assert first.basic_consume("twice", lambda *args: None, consumer_tag="same") == "same"
        assert second.basic_consume("twice", lambda *args: None, consumer_tag="same") == "same"
        assert first.queue_declare("twice", passive=True).method.consumer_count == 2


# ---- ordering ----------------------------------------------------------------------------------


def test_two_consumers_receive_round_robin(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("rr")
        received: list[Delivery] = []
        first = channel.basic_consume("rr", _recorder(received), auto_ack=True)
        second = channel.basic_consume("rr", _recorder(received), auto_ack=True)
        _publish(channel, "rr", [str(n).encode() for n in range(6)])
        _wait_for(connection, lambda: len(received) == 6)
        tags = [tag for tag, _body, _dtag, _redelivered in received]
        assert tags == [first, second] * 3
        assert [body for _tag, body, _dtag, _r in received] == [str(n).encode() for n in range(6)]


def test_consumer_receives_messages_in_publication_order(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("fifo")
        bodies = [f"m{n}".encode() for n in range(50)]
        _publish(channel, "fifo", bodies)
        received: list[Delivery] = []
        channel.basic_consume("fifo", _recorder(received), auto_ack=True)
        _wait_for(connection, lambda: len(received) == 50)
        assert [body for _tag, body, _dtag, _r in received] == bodies
        assert [dtag for _tag, _body, dtag, _r in received] == list(range(1, 51))


def test_nacked_message_returns_redelivered_in_its_original_position(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("position")
        _publish(channel, "position", [b"1", b"2", b"3"])
        one, _ = _get(channel, "position")
        two, _ = _get(channel, "position")
        channel.basic_nack(one.delivery_tag, requeue=True)
        again, body = _get(channel, "position")
        assert (body, again.redelivered) == (b"1", True)
        three, body = _get(channel, "position")
        assert (body, three.redelivered) == (b"3", False)
        channel.basic_nack(two.delivery_tag, requeue=True)
        channel.basic_reject(three.delivery_tag, requeue=True)
        # Both go back ahead of nothing else, in publication order.
        after_two, body = _get(channel, "position")
        assert (body, after_two.redelivered) == (b"2", True)
        after_three, body = _get(channel, "position")
        assert (body, after_three.redelivered) == (b"3", True)


# ---- ack, nack, reject -------------------------------------------------------------------------


def test_ack_multiple_settles_every_tag_up_to_it(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("acks")
        _publish(channel, "acks", [b"a", b"b", b"c", b"d"])
        tags = [_get(channel, "acks")[0].delivery_tag for _ in range(4)]
        channel.basic_ack(tags[2], multiple=True)
        channel.close()
        check = connection.channel()
        # Only the fourth was unacked when the channel closed.
        assert ready_count(check, "acks") == 1
        method, body = _get(check, "acks")
        assert (body, method.redelivered) == (b"d", True)


def test_ack_multiple_zero_settles_everything(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("all-acked")
        _publish(channel, "all-acked", [b"a", b"b", b"c"])
        for _ in range(3):
            _get(channel, "all-acked")
        channel.basic_ack(0, multiple=True)
        channel.close()
        assert ready_count(connection.channel(), "all-acked") == 0


def test_nack_multiple_requeues_in_order_and_drops_without_requeue(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("nacks")
        _publish(channel, "nacks", [b"a", b"b", b"c", b"d"])
        tags = [_get(channel, "nacks")[0].delivery_tag for _ in range(4)]
        channel.basic_nack(tags[1], multiple=True, requeue=True)
        channel.basic_nack(tags[3], multiple=True, requeue=False)
        assert ready_count(channel, "nacks") == 2
        bodies = [_get(channel, "nacks")[1] for _ in range(2)]
        assert bodies == [b"a", b"b"]


def test_reject_without_requeue_discards(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("rejects")
        _publish(channel, "rejects", [b"bad"])
        method, _ = _get(channel, "rejects")
        channel.basic_reject(method.delivery_tag, requeue=False)
        channel.close()
        assert ready_count(connection.channel(), "rejects") == 0


def test_ack_of_unknown_tag_closes_channel_406(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.basic_ack(99)
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.queue_declare("after-bad-ack")
        assert connection.is_open
    assert info.value.reply_code == 406
    assert info.value.reply_text == "PRECONDITION_FAILED - unknown delivery tag 99"


def test_double_ack_closes_channel_406(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("double")
        _publish(channel, "double", [b"once"])
        method, _ = _get(channel, "double")
        channel.basic_ack(method.delivery_tag)
        channel.basic_ack(method.delivery_tag)
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.queue_declare("double", passive=True)
    assert info.value.reply_code == 406
    assert info.value.reply_text == (
        f"PRECONDITION_FAILED - unknown delivery tag {method.delivery_tag}"
    )


@pytest.mark.parametrize("operation", ["nack", "reject", "ack-multiple"])
def test_settling_an_unknown_tag_closes_channel_406(amqp_url: str, operation: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        if operation == "nack":
            channel.basic_nack(7)
        elif operation == "reject":
            channel.basic_reject(7)
        else:
            channel.basic_ack(7, multiple=True)
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            channel.queue_declare("after")
    assert info.value.reply_code == 406
    assert info.value.reply_text == "PRECONDITION_FAILED - unknown delivery tag 7"


# ---- recover -----------------------------------------------------------------------------------


def test_recover_with_requeue_redelivers_unacked(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("recover")
        _publish(channel, "recover", [b"a", b"b"])
        received: list[Delivery] = []
        channel.basic_consume("recover", _recorder(received))
        _wait_for(connection, lambda: len(received) == 2)
        channel.basic_recover(requeue=True)
        _wait_for(connection, lambda: len(received) == 4)
        redelivered = [(body, flag) for _tag, body, _dtag, flag in received[2:]]
        assert redelivered == [(b"a", True), (b"b", True)]
        # Tags of the first deliveries are void now; the new ones settle normally.
        channel.basic_ack(received[3][2], multiple=True)
        channel.close()
        assert ready_count(connection.channel(), "recover") == 0


def test_recover_without_requeue_closes_connection_540(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as info:
            channel.basic_recover(requeue=False)
    assert info.value.reply_code == 540
    assert info.value.reply_text == "NOT_IMPLEMENTED - requeue=false"


# ---- qos ---------------------------------------------------------------------------------------


def test_prefetch_count_limits_each_consumer_to_two_unacked(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("prefetch")
        channel.basic_qos(prefetch_count=2)
        first: list[Delivery] = []
        second: list[Delivery] = []
        channel.basic_consume("prefetch", _recorder(first))
        channel.basic_consume("prefetch", _recorder(second))
        _publish(channel, "prefetch", [str(n).encode() for n in range(7)])
        _wait_for(connection, lambda: len(first) + len(second) == 4)
        assert ready_count(channel, "prefetch") == 3
        assert (len(first), len(second)) == (2, 2)
        channel.basic_ack(first[0][2])
        _wait_for(connection, lambda: len(first) == 3)
        assert len(second) == 2
        assert ready_count(channel, "prefetch") == 2
        observer = connection.channel()
        assert ready_count(observer, "prefetch") == 2
        # Each ack by the second consumer frees exactly one slot for it, never more.
        for expected in (3, 4):
            channel.basic_ack(second[-1][2])
            _wait_for(connection, lambda n=expected: len(second) == n)
            assert ready_count(observer, "prefetch") == 4 - expected
        assert (len(first), len(second)) == (3, 4)


def test_global_prefetch_is_shared_by_the_channels_consumers(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        channel.queue_declare("global")
        channel.basic_qos(prefetch_count=3, global_qos=True)
        received: list[Delivery] = []
        channel.basic_consume("global", _recorder(received))
        channel.basic_consume("global", _recorder(received))
        _publish(channel, "global", [str(n).encode() for n in range(8)])
        _wait_for(connection, lambda: len(received) == 3)
        assert ready_count(channel, "global") == 5
        assert len(received) == 3
        channel.basic_ack(received[1][2], multiple=True)
        _wait_for(connection, lambda: len(received) == 5)
        assert ready_count(channel, "global") == 3


def test_prefetch_size_closes_connection_540(amqp_url: str) -> None:
    with connect(amqp_url) as connection:
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as info:
            channel.basic_qos(prefetch_size=1000)
    assert info.value.reply_code == 540
    assert info.value.reply_text.startswith("NOT_IMPLEMENTED - prefetch_size")
