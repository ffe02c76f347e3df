# The exchange types by name, as exchange.declare names them.
#
# Rules kept here:
# - Exactly the four AMQP 0-9-1 types exist; any other name raises UnknownExchangeType.
# - Argument validation per type lives with the type; this module only dispatches to it.
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from exchanges.base import Arguments, ExchangeType, UnknownExchangeType, freeze_arguments
from exchanges.direct import DirectExchange
from exchanges.fanout import FanoutExchange
from exchanges.headers import HeadersExchange, validate_x_match
from exchanges.topic import TopicExchange

EXCHANGE_TYPES: Final[Mapping[str, type[ExchangeType[Any]]]] = MappingProxyType(
    {
        DirectExchange.type_name: DirectExchange,
        FanoutExchange.type_name: FanoutExchange,
        TopicExchange.type_name: TopicExchange,
        HeadersExchange.type_name: HeadersExchange,
    }
)


def exchange_type_class(type_name: str) -> type[ExchangeType[Any]]:
    """The class implementing a type; raises UnknownExchangeType for an unknown name."""
    try:
        return EXCHANGE_TYPES[type_name]
    except KeyError:
        raise UnknownExchangeType(type_name) from None


def create_exchange_type(type_name: str) -> ExchangeType[Any]:
    """A fresh, empty routing table; raises UnknownExchangeType for an unknown name."""
    return exchange_type_class(type_name)()


def validate_binding_arguments(type_name: str, arguments: Arguments | None) -> None:
    """Check binding arguments before anything is changed.

    Raises UnknownExchangeType for an unknown type, InvalidBinding for arguments the type
    refuses (only headers has rules: x-match) and TypeError for values no field table carries.
    """
    cls = exchange_type_class(type_name)
    if cls is HeadersExchange:
        validate_x_match(arguments)
    freeze_arguments(arguments)
