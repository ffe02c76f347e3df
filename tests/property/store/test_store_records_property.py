# Segment records and ack entries: whatever prefix of a log survives a crash, recovery reads exactly
# the records written whole before the cut, and a damaged record is never returned.
from __future__ import annotations

import shutil
import tempfile
from typing import cast

from hypothesis import given, settings
from hypothesis import strategies as st
from pamqp.commands import Basic

from amqp_broker.core.message import Message
from amqp_broker.core.queue import Queue
from amqp_broker.store import DurableStore
from amqp_broker.store.directory import DataDirectory
from amqp_broker.store.journal import segment_path
from amqp_broker.store.records import (
    ACKED,
    DELIVERED,
    append_record,
    decode_record,
    encode_ack,
    encode_record,
    head_checksum,
    record_head,
    scan_acks,
    scan_segment,
)

short = st.text(max_size=40).filter(lambda text: len(text.encode()) <= 255)
PROPERTIES = Basic.Properties(delivery_mode=2)
messages = st.lists(
    st.tuples(short, short, st.binary(max_size=40), st.binary(max_size=200)), max_size=8
)


@given(messages)
def test_append_record_writes_what_encode_record_makes(
    stored: list[tuple[str, str, bytes, bytes]],
) -> None:
    # the journal's way (head encoded and checksummed apart, body copied once) is the format
    buffer = bytearray()
    for exchange, routing_key, properties, body in stored:
        head = record_head(exchange, routing_key, properties)
        length = append_record(buffer, head, head_checksum(head), body)
        assert length == len(encode_record(exchange, routing_key, properties, body))
    assert bytes(buffer) == b"".join(encode_record(*message) for message in stored)


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


class _Queue:
    journal: object = None


heads = st.sampled_from([("", "q"), ("ex", "q"), ("", "other")])


@settings(max_examples=50)
@given(st.lists(st.tuples(heads, st.sampled_from([b"", b"\x10\x00\x02"]), st.binary(max_size=64))))
def test_journal_records_equal_encode_record_and_locators_are_offsets(
    appended: list[tuple[tuple[str, str], bytes, bytes]],
) -> None:
    # messages whose heads repeat and change: the journal's remembered head must never leak
    # from one message into the next
    path = tempfile.mkdtemp()
    try:
        store = DurableStore(DataDirectory.open(path), fsync=False)
        journal = store.attach(cast(Queue, _Queue()))
        expected = bytearray()
        for (exchange, routing_key), properties, body in appended:
            message = Message(exchange, routing_key, properties, PROPERTIES, body)
            assert journal.append(message) == 1 << 32 | len(expected)
            expected += encode_record(exchange, routing_key, properties, body)
        batch = store.take_batch()
        written = batch.writes.get(segment_path(journal.queue_id, 1, "seg"), b"") if batch else b""
        assert bytes(written) == bytes(expected)
        store.close()
    finally:
        shutil.rmtree(path)
