# The wire sizes of AMQP field values of fixed length, by type letter, as RabbitMQ 3.10 reads them
# (rabbit_binary_parser). Shared by the protocol layer's table scanner and the core's property
# rewriter, which may not import each other; the variable-length letters (S, x, A, F) are not here.
from __future__ import annotations

from typing import Final

FIXED_VALUE_SIZES: Final[dict[int, int]] = {
    ord("t"): 1,
    ord("b"): 1,
    ord("B"): 1,
    ord("s"): 2,
    ord("u"): 2,
    ord("I"): 4,
    ord("i"): 4,
    ord("l"): 8,
    ord("L"): 8,
    ord("f"): 4,
    ord("d"): 8,
    ord("D"): 5,  # decimal: scale octet and a 32-bit unscaled value
    ord("T"): 8,
    ord("V"): 0,
}
