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
#   else with the original routing keys (the publish's, and its CC and BCC keys).
# - A copy is not delivered to a queue it already died in when every death since is automatic
#   (no `rejected`): that is a cycle only a client could break.
# - Only the headers the death changes are encoded (with RabbitMQ's types: count is a long);
#   every other header and property keeps the publisher's bytes (raw_properties), so no field
#   type changes on the way.
from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from pamqp.commands import Basic

from amqp_broker.core.message import Message
from amqp_broker.core.raw_properties import (
    canonical_value,
    encode_value,
    join_properties,
    join_table,
    split_properties,
    split_table,
)

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
        _encode_properties(message.properties_raw, old.headers or {}, headers),
        properties,
        message.body,
        # without a dead-letter routing key the copy goes to every key the publish named
        sender_routes=message.sender_routes if routing_key is None else (),
    )


def _encode_properties(raw: bytes, old_headers: Mapping[str, Any], headers: Table) -> bytes:
    """The copy's property bytes: expiration dropped, headers in their new order, each header
    the death left alone (the very same value object) copied from the publisher's bytes."""
    fields = split_properties(raw)
    fields.pop("expiration", None)
    kept = split_table(fields["headers"]) if "headers" in fields else {}
    entries = {
        key: canonical_value(kept[key])
        if key in kept and key in old_headers and value is old_headers[key]
        else encode_value(value)
        for key, value in headers.items()
    }
    fields["headers"] = join_table(entries)
    return join_properties(fields)


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
        headers["x-death"] = [{"count": 1, **info}]
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
        headers["x-death"] = [_sorted(latest), *others]
    else:
        # something that is not an array (a client re-published it as a string): start over
        headers["x-death"] = [{"count": 1, **info}]
    return _sorted(headers)


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
            first = {"count": len(same), **first}
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
