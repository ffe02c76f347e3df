# Public API of the pure routing tables behind AMQP 0-9-1 exchanges.
#
# Rules kept here: standard library only (no broker, pamqp or trio imports); everything the
# broker uses is re-exported from this one place.
from exchanges.arguments import EMPTY_ARGUMENTS, FrozenArguments, freeze_arguments
from exchanges.base import (
    Arguments,
    Binding,
    D,
    ExchangeType,
    InvalidBinding,
    UnknownExchangeType,
)
from exchanges.direct import DirectExchange
from exchanges.fanout import FanoutExchange
from exchanges.headers import HeadersExchange, validate_x_match
from exchanges.registry import (
    EXCHANGE_TYPES,
    create_exchange_type,
    exchange_type_class,
    validate_binding_arguments,
)
from exchanges.topic import TopicExchange, split_words

__all__ = [
    "EMPTY_ARGUMENTS",
    "EXCHANGE_TYPES",
    "Arguments",
    "Binding",
    "D",
    "DirectExchange",
    "ExchangeType",
    "FanoutExchange",
    "FrozenArguments",
    "HeadersExchange",
    "InvalidBinding",
    "TopicExchange",
    "UnknownExchangeType",
    "create_exchange_type",
    "exchange_type_class",
    "freeze_arguments",
    "split_words",
    "validate_binding_arguments",
    "validate_x_match",
]
