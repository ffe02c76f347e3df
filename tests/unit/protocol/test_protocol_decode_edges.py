# Decoding edge cases the wire fuzzer found, with RabbitMQ 3.10.8's answers.
from __future__ import annotations

import struct

import pytest
from pamqp import commands

from amqp_broker.errors import AMQPError, ReplyCode
from amqp_broker.protocol.codec import decode_method


@pytest.mark.parametrize("tag", [2**63, 2**64 - 1])
def test_delivery_tags_are_unsigned(tag: int) -> None:
    for class_method in ((60, 80), (60, 90), (60, 120)):
        method = decode_method(struct.pack(">HHQB", *class_method, tag, 0))
        assert isinstance(method, commands.Basic.Ack | commands.Basic.Reject | commands.Basic.Nack)
        assert method.delivery_tag == tag


def test_invalid_utf8_in_a_name_is_rabbitmq_frame_error() -> None:
    name = b"\xff\xfeq"
    payload = struct.pack(">HHH", 50, 10, 0) + bytes((len(name),)) + name + b"\x00" + bytes(4)
    with pytest.raises(AMQPError) as info:
        decode_method(payload)
    assert info.value.code is ReplyCode.FRAME_ERROR
    assert info.value.text == "FRAME_ERROR - Malformed UTF-8 in shortstr"
    assert (info.value.class_id, info.value.method_id) == (50, 10)
