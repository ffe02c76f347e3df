# Measures the two candidate designs for the durable message store on this machine, before the
# choice: stdlib sqlite3 (WAL, one transaction per batch) and an append-only segment log with a
# per-segment ack log (LavinMQ's design). Each writes N small messages in group-committed batches
# (one fsync per batch, as confirms would wait for), acks them all, and reads back a full queue as
# recovery would. Prints messages/s and milliseconds; docs/performance.md keeps the numbers.
#
#   .venv/bin/python -m bench.store_candidates [--messages 200000] [--batch 100] [--recover 1000000]
from __future__ import annotations

import argparse
import os
import sqlite3
import struct
import tempfile
import time
import zlib
from pathlib import Path

BODY = b"x" * 64
PROPS = b"\x10\x00\x02"  # delivery_mode=2 as a content header property list would carry it
HEADER = struct.Struct("<II")


def sqlite_write(path: Path, messages: int, batch: int, fsync: bool) -> tuple[float, float]:
    db = sqlite3.connect(path / "store.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'OFF'}")
    db.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, q INTEGER, props BLOB, body BLOB)")
    started = time.perf_counter()
    for first in range(0, messages, batch):
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO m VALUES (?, 1, ?, ?)",
            ((i, PROPS, BODY) for i in range(first, min(first + batch, messages))),
        )
        db.execute("COMMIT")
    written = time.perf_counter() - started
    started = time.perf_counter()
    for first in range(0, messages, batch):
        db.execute("BEGIN")
        db.executemany("DELETE FROM m WHERE id = ?", ((i,) for i in range(first, first + batch)))
        db.execute("COMMIT")
    acked = time.perf_counter() - started
    db.close()
    return written, acked


def sqlite_recover(path: Path, messages: int) -> float:
    db = sqlite3.connect(path / "recover.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, q INTEGER, props BLOB, body BLOB)")
    db.execute("BEGIN")
    db.executemany("INSERT INTO m VALUES (?, 1, ?, ?)", ((i, PROPS, BODY) for i in range(messages)))
    db.execute("COMMIT")
    db.close()
    started = time.perf_counter()
    db = sqlite3.connect(path / "recover.db")
    count = sum(1 for _ in db.execute("SELECT id, props, body FROM m WHERE q = 1 ORDER BY id"))
    assert count == messages
    db.close()
    return time.perf_counter() - started


def _record(payload: bytes) -> bytes:
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def segment_write(path: Path, messages: int, batch: int, fsync: bool) -> tuple[float, float]:
    segment = os.open(path / "1.seg", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    acks = os.open(path / "1.ack", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    offsets = []
    offset = 0
    started = time.perf_counter()
    for first in range(0, messages, batch):
        buffer = bytearray()
        for _ in range(first, min(first + batch, messages)):
            offsets.append(offset)
            record = _record(PROPS + BODY)
            buffer += record
            offset += len(record)
        os.write(segment, buffer)
        if fsync:
            os.fdatasync(segment)
    written = time.perf_counter() - started
    started = time.perf_counter()
    for first in range(0, messages, batch):
        os.write(acks, b"".join(struct.pack("<I", o) for o in offsets[first : first + batch]))
        if fsync:
            os.fdatasync(acks)
    acked = time.perf_counter() - started
    os.close(segment)
    os.close(acks)
    return written, acked


def segment_recover(path: Path, messages: int) -> float:
    with open(path / "r.seg", "wb") as file:
        file.write(b"".join(_record(PROPS + BODY) for _ in range(messages)))
    started = time.perf_counter()
    data = (path / "r.seg").read_bytes()
    position, count = 0, 0
    unpack = HEADER.unpack_from
    while position < len(data):
        size, crc = unpack(data, position)
        payload = data[position + 8 : position + 8 + size]
        assert zlib.crc32(payload) == crc
        position += 8 + size
        count += 1
    assert count == messages
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--recover", type=int, default=1_000_000)
    args = parser.parse_args()
    for fsync in (True, False):
        for name, write in (("sqlite3 WAL", sqlite_write), ("segment log", segment_write)):
            with tempfile.TemporaryDirectory() as tmp:
                written, acked = write(Path(tmp), args.messages, args.batch, fsync)
            print(
                f"{name:12} fsync={'always' if fsync else 'never ':6} batch={args.batch}: "
                f"write {args.messages / written:9,.0f} msg/s  "
                f"ack {args.messages / acked:9,.0f} msg/s"
            )
    for name, recover in (("sqlite3 WAL", sqlite_recover), ("segment log", segment_recover)):
        with tempfile.TemporaryDirectory() as tmp:
            seconds = recover(Path(tmp), args.recover)
        print(f"{name:12} read back {args.recover:,} messages: {seconds * 1000:7.0f} ms")


if __name__ == "__main__":
    main()
