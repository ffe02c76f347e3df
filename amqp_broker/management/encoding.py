# Conversions between JSON and AMQP values for the management API.
#
# Rules kept here:
# - What goes out is plain JSON: bytes become text (UTF-8, or base64 when they are not text),
#   timestamps become seconds, decimals become numbers, as RabbitMQ's JSON encoder does.
# - What comes in is checked the way RabbitMQ's management plugin checks it: booleans may be JSON
#   booleans or the strings "true"/"false" (rabbitmqadmin sends strings); anything else is a
#   400 with RabbitMQ's reason term.
from __future__ import annotations

import base64
import binascii
import datetime
import decimal
from collections.abc import Mapping
from typing import Any

from amqp_broker.management.errors import bad_request

# The message properties the API accepts, by RabbitMQ's names.
PROPERTY_NAMES = frozenset(
    {
        "content_type",
        "content_encoding",
        "headers",
        "delivery_mode",
        "priority",
        "correlation_id",
        "reply_to",
        "expiration",
        "message_id",
        "timestamp",
        "type",
        "user_id",
        "app_id",
        "cluster_id",
    }
)
_INTEGER_PROPERTIES = ("delivery_mode", "priority", "timestamp")


def to_json(value: Any) -> Any:
    """A decoded AMQP value (field tables, arrays, timestamps, decimals) as plain JSON."""
    if isinstance(value, Mapping):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return int(value.timestamp())
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def parse_bool(value: Any, default: bool = False) -> bool:
    """RabbitMQ's rabbit_mgmt_util:parse_bool: true/false or their strings; raises ApiError."""
    if value is None:
        return default
    if value is True or value == "true":
        return True
    if value is False or value == "false":
        return False
    raise bad_request(["not_boolean", value])


def parse_int(value: Any, name: str) -> int:
    """An integer field that may arrive as a string (rabbitmqadmin sends count="1")."""
    if isinstance(value, bool):
        raise bad_request(f"{name} must be an integer")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"{name} must be an integer") from None


def parse_arguments(value: Any) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise bad_request("arguments must be a JSON object")
    return value


def require(body: Mapping[str, Any], *keys: str) -> None:
    """RabbitMQ lists every missing key in one Erlang term: [{key_missing,a}, ...]."""
    missing = [key for key in keys if key not in body]
    if missing:
        raise bad_request("[" + ",\n ".join(f"{{key_missing,{key}}}" for key in missing) + "]")


def properties_from_json(value: Any) -> dict[str, Any]:
    """The API's "properties" object checked and converted to AMQP values (RabbitMQ's names:
    "type", not message_type); unknown names are a 400."""
    if value in (None, [], ""):
        return {}
    if not isinstance(value, dict):
        raise bad_request("properties must be a JSON object")
    properties: dict[str, Any] = {}
    for name, given in value.items():
        if name not in PROPERTY_NAMES:
            raise bad_request(["invalid_property", name])
        properties[name] = _property_value(name, given)
    return properties


def _property_value(name: str, given: Any) -> Any:
    if name == "timestamp":
        return datetime.datetime.fromtimestamp(parse_int(given, name), tz=datetime.UTC)
    if name in _INTEGER_PROPERTIES:
        return parse_int(given, name)
    if name == "headers":
        if not isinstance(given, dict):
            raise bad_request("headers must be a JSON object")
        return given
    return given if isinstance(given, str) else str(given)


def decode_payload(payload: Any, encoding: Any) -> bytes:
    """The body of a message published through the API ("string" or "base64")."""
    if not isinstance(payload, str):
        raise bad_request("payload must be a string")
    if encoding == "string":
        return payload.encode("utf-8")
    if encoding == "base64":
        try:
            return base64.b64decode(payload, validate=True)
        except binascii.Error:
            raise bad_request(["invalid_base64", payload[:64]]) from None
    raise bad_request(["unsupported_encoding", encoding])


def encode_payload(body: bytes, encoding: str) -> tuple[str, str]:
    """(payload, payload_encoding) for a message read through the API; "auto" gives a string
    when the body is UTF-8 text, base64 otherwise, as RabbitMQ does."""
    if encoding == "auto":
        try:
            return body.decode("utf-8"), "string"
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), "base64"
