# Sender-selected distribution: RabbitMQ's CC and BCC headers, extra routing keys a publisher
# chooses per message.
#
# Rules kept here (rabbit_basic in RabbitMQ 3.10, checked against a live 3.10.8 node):
# - CC and BCC must be arrays; each long-string element is one more routing key (elements of
#   other types are ignored). Any other type is refused: 406
#   `invalid message: {unacceptable_type_in_header,"CC",longstr}`.
# - The message is routed with its routing key and every CC, then BCC, key; a queue reached by
#   several gets it once. Consumers see the publisher's routing key.
# - BCC is removed before the message is stored, so no consumer sees it; CC stays.
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pamqp.commands import Basic

from amqp_broker.core.raw_properties import (
    canonical_value,
    join_properties,
    join_table,
    split_properties,
    split_table,
)
from amqp_broker.errors import AMQPError, ReplyCode

SENDER_HEADERS = ("CC", "BCC")

# RabbitMQ's names for the field types, as its error texts print them.
_TYPE_NAMES = {
    ord("t"): "bool",
    ord("b"): "byte",
    ord("B"): "unsignedbyte",
    ord("s"): "short",
    ord("u"): "unsignedshort",
    ord("I"): "signedint",
    ord("i"): "unsignedint",
    ord("l"): "long",
    ord("L"): "long",
    ord("f"): "float",
    ord("d"): "double",
    ord("D"): "decimal",
    ord("S"): "longstr",
    ord("x"): "binary",
    ord("T"): "timestamp",
    ord("F"): "table",
    ord("V"): "void",
}


def take_sender_routes(
    properties_raw: bytes, properties: Basic.Properties
) -> tuple[tuple[str, ...], bytes]:
    """The CC and BCC routing keys, and the property bytes to store (BCC removed; the decoded
    `properties` lose it too). Raises AMQPError(406) for a CC or BCC that is not an array."""
    headers: Mapping[str, Any] | None = properties.headers
    if not headers or not any(key in headers for key in SENDER_HEADERS):
        return (), properties_raw
    fields = split_properties(properties_raw)
    entries = split_table(fields["headers"])
    routes: list[str] = []
    for key in SENDER_HEADERS:
        encoded = entries.get(key)
        if encoded is None:
            continue
        if encoded[0] != ord("A"):
            type_name = _TYPE_NAMES.get(encoded[0], "unknown")
            raise AMQPError(
                ReplyCode.PRECONDITION_FAILED,
                f'invalid message: {{unacceptable_type_in_header,"{key}",{type_name}}}',
            )
        routes.extend(item for item in headers[key] if isinstance(item, str))
    if "BCC" in entries:
        # RabbitMQ writes the remaining headers back from their decoded values.
        del entries["BCC"]
        fields["headers"] = join_table({k: canonical_value(v) for k, v in entries.items()})
        properties_raw = join_properties(fields)
        properties.headers = {k: v for k, v in headers.items() if k != "BCC"}
    return tuple(routes), properties_raw
