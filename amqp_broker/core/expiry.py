# Time-based rules: per-message TTL parsing, expiry deadlines, and the broker-wide schedule of
# the next moment some queue needs attention.
#
# Rules kept here:
# - The core never reads a clock. Callers pass `now` in seconds (any monotonic clock); TTLs are
#   milliseconds, as on the wire.
# - A message's TTL is the lower of the queue's x-message-ttl and its own `expiration`; it
#   expires at `enqueued + ttl` and is expired once `now >= deadline` (RabbitMQ's rule).
# - The schedule holds at most one live deadline per key; superseded entries are skipped lazily.
from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable
from typing import Generic, TypeVar

from amqp_broker.core.queue_arguments import InvalidArgumentError, check_expiry
from amqp_broker.errors import AMQPError, ReplyCode

K = TypeVar("K", bound=Hashable)


def parse_expiration(expiration: str | None) -> int | None:
    """The `expiration` property as milliseconds (None when absent).

    Raises AMQPError(PRECONDITION_FAILED) with RabbitMQ's text (rabbit_basic:parse_expiration,
    which reads the string with Erlang's string:to_integer): "invalid expiration 'abc':
    no_integer", "invalid expiration '10x': {leftover_string,\"x\"}",
    "invalid expiration '-1': {value_negative,-1}" (all measured on RabbitMQ 3.10.8).
    """
    if expiration is None:
        return None
    sign_end = 1 if expiration[:1] in ("+", "-") else 0
    digits_end = sign_end
    while digits_end < len(expiration) and expiration[digits_end] in "0123456789":
        digits_end += 1
    if digits_end == sign_end:
        term = "no_integer"
    elif digits_end < len(expiration):
        term = f"{{leftover_string,{_erlang_string(expiration[digits_end:])}}}"
    else:
        try:
            return check_expiry(int(expiration[:digits_end]))
        except InvalidArgumentError as problem:
            term = str(problem)
    prefix = f"invalid expiration '{expiration}': "
    raise AMQPError(ReplyCode.PRECONDITION_FAILED, prefix + _wrapped(term, len(prefix)))


def _erlang_string(text: str) -> str:
    """A char list as Erlang's ~p prints it: quoted when printable, else a list of bytes."""
    data = text.encode("utf-8")
    if all(0x20 <= byte < 0x7F for byte in data):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "[" + ",".join(str(byte) for byte in data) + "]"


def _wrapped(term: str, column: int) -> str:
    """Erlang's ~p breaks a {tag,Number} term that would pass column 78 after its comma,
    indenting the rest under the brace (measured: 19-digit values wrap, 18-digit ones not)."""
    if column + len(term) < 79 or not term.startswith("{") or "," not in term:
        return term
    head, tail = term.split(",", 1)
    return f"{head},\n{' ' * (column + 1)}{tail}"


def message_deadline(now: float, queue_ttl: int | None, message_ttl: int | None) -> float | None:
    """When a message enqueued at `now` expires (None: never)."""
    if queue_ttl is None:
        ttl = message_ttl
    elif message_ttl is None:
        ttl = queue_ttl
    else:
        ttl = min(queue_ttl, message_ttl)
    return None if ttl is None else now + ttl / 1000


class DeadlineSchedule(Generic[K]):
    """The next deadline of each key (a queue), earliest first."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, K]] = []
        self._current: dict[K, float] = {}
        self._counter = itertools.count()

    def set(self, key: K, deadline: float | None) -> None:
        """Replace `key`'s deadline (None cancels it)."""
        if deadline is None:
            self._current.pop(key, None)
            return
        if self._current.get(key) == deadline:
            return
        self._current[key] = deadline
        heapq.heappush(self._heap, (deadline, next(self._counter), key))

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap and self._current.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)  # superseded or cancelled
        return heap[0][0] if heap else None

    def pop_due(self, now: float) -> list[K]:
        """Every key whose deadline is at or before `now`; they are unscheduled."""
        due: list[K] = []
        while (deadline := self.next_deadline()) is not None and deadline <= now:
            _, _, key = heapq.heappop(self._heap)
            del self._current[key]
            due.append(key)
        return due

    def __len__(self) -> int:
        return len(self._current)
