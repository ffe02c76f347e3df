# Dead-lettering: the copy of a message republished to a queue's x-dead-letter-exchange, and
# the cycle rule that stops copies going round forever.
#
# Rules kept here (RabbitMQ 3.10's rabbit_dead_letter):
# - The copy keeps every property but `expiration`, which moves into the x-death entry as
#   original-expiration, so it does not expire again on its way.
# - x-death is an array of tables, most recent (queue, reason) first. A (queue, reason) seen
#   before has its count incremented and moves to the front, keeping its first time, exchange
#   and routing-keys. The first death also writes x-first-death-reason/-queue/-exchange;
#   3.10 writes no x-last-death-* headers. The header table comes out sorted by key, as
#   rabbit_misc:set_table_value leaves it; only entries RabbitMQ re-sorts are re-sorted.
# - It is published to the DLX with x-dead-letter-routing-key if set (dropping the CC header),
#   else with the original routing key.
# - A copy is not delivered to a queue it already died in when every death since is automatic
#   (no `rejected`): that is a cycle only a client could break.
# - The header table is encoded here, in its own key order (pamqp's encoder sorts every table,
#   which would reorder the first x-death entry), with x-death counts as long ints as RabbitMQ
#   writes them; single values go through pamqp, which picks integer widths itself and writes
#   floats as 32-bit 'f'. Every other property is encoded by pamqp unchanged.
from __future__ import annotations

import datetime
import struct
from collections.abc import Mapping
from typing import Any

from pamqp import encode
from pamqp.commands import Basic

from amqp_broker.core.message import Message

_PROPERTY_NAMES: tuple[str, ...] = tuple(Basic.Properties.__slots__)

Table = dict[str, Any]


def dead_letter_copy(
    message: Message,
    *,
    reason: str,
    queue: str,
    exchange: str,
    routing_key: str | None,
    posix_time: float,
) -> Message:
    """The message as republished to dead-letter exchange `exchange` after dying in `queue`.

    `reason` is RabbitMQ's: rejected, expired or maxlen. `routing_key` is the queue's
    x-dead-letter-routing-key (None: keep the message's own).
    """
    old = message.properties
    headers: Table = dict(old.headers or {})
    routes = [message.routing_key, *_header_routes(headers)]
    info: Table = {
        "reason": reason,
        "queue": queue,
        "time": datetime.datetime.fromtimestamp(int(posix_time), tz=datetime.UTC),
        "exchange": message.exchange,
        "routing-keys": routes,
    }
    if old.expiration is not None:
        info["original-expiration"] = old.expiration
    headers = _record_death(headers, info)
    if routing_key is not None:
        headers.pop("CC", None)
    values = {name: getattr(old, name) for name in _PROPERTY_NAMES}
    values["headers"] = headers
    values["expiration"] = None
    properties = Basic.Properties(**values)
    return Message(
        exchange,
        message.routing_key if routing_key is None else routing_key,
        _encode_properties(properties),
        properties,
        message.body,
    )


class _Long(int):
    """An int RabbitMQ writes as a signed 64-bit 'l' (x-death's count)."""


def _encode_properties(properties: Basic.Properties) -> bytes:
    """Property flags and list, with the headers table encoded by _table."""
    headers = properties.headers
    values = {name: getattr(properties, name) for name in _PROPERTY_NAMES}
    values["headers"] = None
    raw = Basic.Properties(**values).marshal()
    if not headers:
        return raw
    flags = int.from_bytes(raw[:2], "big") | Basic.Properties.flags["headers"]
    pos = 2  # headers come after content_type and content_encoding, both shortstr
    for name in ("content_type", "content_encoding"):
        if getattr(properties, name) is not None:
            pos += 1 + raw[pos]
    return flags.to_bytes(2, "big") + raw[2:pos] + _table(headers) + raw[pos:]


def _table(table: Mapping[str, Any]) -> bytes:
    data = bytearray()
    for key, value in table.items():
        name = key.encode("utf-8")
        data += bytes((len(name),)) + name + _value(value)
    return struct.pack(">I", len(data)) + bytes(data)


def _value(value: Any) -> bytes:
    if isinstance(value, _Long):
        return b"l" + struct.pack(">q", value)
    if isinstance(value, Mapping):
        return b"F" + _table(value)
    if isinstance(value, list | tuple):
        items = b"".join(_value(item) for item in value)
        return b"A" + struct.pack(">I", len(items)) + items
    if isinstance(value, bytes):
        value = bytearray(value)  # pamqp decodes a byte array to bytes, encodes bytearray
    return encode.encode_table_value(value)


def _header_routes(headers: Mapping[str, Any]) -> list[str]:
    """The CC and BCC routing keys a publisher added (rabbit_basic:header_routes)."""
    routes: list[str] = []
    for key in ("CC", "BCC"):
        value = headers.get(key)
        if isinstance(value, list):
            routes.extend(item for item in value if isinstance(item, str))
    return routes


def _sorted(table: Mapping[str, Any]) -> Table:
    """rabbit_misc:sort_field_table: keys in byte order."""
    return dict(sorted(table.items(), key=lambda item: item[0].encode("utf-8")))


def _record_death(headers: Table, info: Table) -> Table:
    """update_x_death_header, step for step."""
    queue, reason = info["queue"], info["reason"]
    deaths = headers.get("x-death")
    if "x-death" not in headers:
        headers["x-first-death-reason"] = reason
        headers["x-first-death-queue"] = queue
        headers["x-first-death-exchange"] = info["exchange"]
        headers["x-death"] = [{"count": _Long(1), **info}]
    elif isinstance(deaths, list):
        grouped = _group_by_queue_and_reason(deaths)
        matches = [death for death in grouped if _is_death_of(death, queue, reason)]
        others = [death for death in grouped if not _is_death_of(death, queue, reason)]
        if matches:
            latest = dict(matches[0])
            count = latest.get("count")
            latest["count"] = count + 1 if isinstance(count, int) else 1
        else:
            latest = {"count": 1, **info}
        headers["x-death"] = [_with_long_count(_sorted(latest)), *map(_with_long_count, others)]
    else:
        # something that is not an array (a client re-published it as a string): start over
        headers["x-death"] = [{"count": _Long(1), **info}]
    return _sorted(headers)


def _with_long_count(death: Any) -> Any:
    """A copy (the original may be another queue's message) with its count as a long."""
    if isinstance(death, Mapping) and isinstance(death.get("count"), int):
        return {**death, "count": _Long(death["count"])}
    return death


def _is_death_of(death: object, queue: str, reason: str) -> bool:
    return isinstance(death, Mapping) and (death.get("queue"), death.get("reason")) == (
        queue,
        reason,
    )


def _group_by_queue_and_reason(deaths: list[Any]) -> list[Any]:
    """Collapse repeated (queue, reason) entries written before counts existed, exactly as
    RabbitMQ's fold does (which also reverses the order of two or more distinct entries)."""
    if len(deaths) < 2:
        return list(deaths)
    seen: set[tuple[object, object]] = set()
    grouped: list[Any] = []
    for death in deaths:
        if not isinstance(death, Mapping):
            continue
        key = (death.get("queue"), death.get("reason"))
        same = [other for other in deaths if isinstance(other, Mapping) and _key(other) == key]
        first = same[0]
        if "count" not in first:
            first = {"count": _Long(len(same)), **first}
        if not grouped or key not in seen:
            grouped.insert(0, first)
        seen.add(key)
    return grouped


def _key(death: Mapping[str, Any]) -> tuple[object, object]:
    return (death.get("queue"), death.get("reason"))


def is_cycle(queue: str, headers: Mapping[str, Any] | None) -> bool:
    """Would delivering this dead-lettered copy to `queue` close a fully automatic cycle?"""
    deaths = (headers or {}).get("x-death")
    if not isinstance(deaths, list):
        return False
    for index, death in enumerate(deaths):
        if isinstance(death, Mapping) and death.get("queue") == queue:
            return all(
                isinstance(step, Mapping) and step.get("reason") != "rejected"
                for step in deaths[: index + 1]
            )
    return False
