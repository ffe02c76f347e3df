# Segment records and ack entries: whatever prefix of a log survives a crash, recovery reads exactly
# the records written whole before the cut, and a damaged record is never returned.
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from amqp_broker.store.records import (
    ACKED,
    DELIVERED,
    decode_record,
    encode_ack,
    encode_record,
    scan_acks,
    scan_segment,
)

short = st.text(max_size=40).filter(lambda text: len(text.encode()) <= 255)
messages = st.lists(
    st.tuples(short, short, st.binary(max_size=40), st.binary(max_size=200)), max_size=8
)


@given(messages, st.data())
def test_a_cut_segment_yields_exactly_the_whole_records_before_the_cut(
    stored: list[tuple[str, str, bytes, bytes]], data: st.DataObject
) -> None:
    records = [encode_record(*message) for message in stored]
    segment = b"".join(records)
    cut = data.draw(st.integers(0, len(segment)))
    found, intact = scan_segment(segment[:cut])
    ends = [sum(len(record) for record in records[: index + 1]) for index in range(len(records))]
    whole = [index for index, end in enumerate(ends) if end <= cut]
    assert len(found) == len(whole)
    assert intact == (ends[whole[-1]] if whole else 0)
    for (offset, start, end), index in zip(found, whole, strict=True):
        assert offset == ends[index] - len(records[index])
        exchange, routing_key, properties, body = decode_record(segment, start, end)
        expected_exchange, expected_key, expected_properties, expected_body = stored[index]
        assert (exchange.decode(), routing_key.decode(), properties, body) == (
            expected_exchange,
            expected_key,
            expected_properties,
            expected_body,
        )


@given(messages.filter(bool), st.data())
def test_a_damaged_last_record_is_dropped(
    stored: list[tuple[str, str, bytes, bytes]], data: st.DataObject
) -> None:
    records = [encode_record(*message) for message in stored]
    segment = bytearray(b"".join(records))
    start = len(segment) - len(records[-1])
    position = data.draw(st.integers(start, len(segment) - 1))
    segment[position] ^= data.draw(st.integers(1, 255))
    found, intact = scan_segment(bytes(segment))
    assert len(found) == len(records) - 1
    assert intact == start


@given(st.integers(0, 2**20))
def test_zero_filled_tail_is_not_a_record(zeros: int) -> None:
    record = encode_record("", "q", b"\x00\x00", b"body")
    found, intact = scan_segment(record + bytes(zeros))
    assert len(found) == 1
    assert intact == len(record)


@given(
    st.lists(st.tuples(st.integers(0, 2**32 - 1), st.sampled_from([ACKED, DELIVERED]))),
    st.data(),
)
def test_a_cut_ack_log_keeps_whole_entries(
    entries: list[tuple[int, int]], data: st.DataObject
) -> None:
    log = b"".join(encode_ack(offset, kind) for offset, kind in entries)
    cut = data.draw(st.integers(0, len(log)))
    acked, delivered, intact = scan_acks(log[:cut])
    kept = entries[: cut // 9]
    assert intact == len(kept) * 9
    assert acked == {offset for offset, kind in kept if kind == ACKED}
    assert delivered == {offset for offset, kind in kept if kind == DELIVERED}
