# Every field type RabbitMQ 3.10 accepts, in its own type-letter mapping, from raw frames: message
# headers reach consumers byte for byte, headers-exchange bindings match on them, and a
# dead-lettered copy keeps each header's type and value. Expected bytes are a live 3.10.8 node's.
from __future__ import annotations

import struct

import pytest
import trio
from amqp_raw_client import RawClient
from pamqp import commands

from amqp_broker.testing import open_broker


def entry(key: bytes, value: bytes) -> bytes:
    return bytes((len(key),)) + key + value


# One value of every type letter, with awkward values where pamqp and RabbitMQ differ.
VALUES: dict[str, bytes] = {
    "zb": b"b\xff",  # signed 8-bit -1
    "aB": b"B\xc8",  # unsigned 8-bit 200
    "s": b"s\x00\x01",
    "u": b"u\xff\xff",
    "I": b"I\x00\x00\x00\x05",
    "i": b"i\xff\xff\xff\xff",  # unsigned 32-bit
    "l": b"l" + (1).to_bytes(8, "big"),
    "f": b"f" + struct.pack(">f", 1.5),
    "d": b"d" + struct.pack(">d", 0.1),  # pamqp would re-encode this as a float
    "D": b"D\x02\xff\xff\xff\xff",  # RabbitMQ reads the digits unsigned
    "S": b"S\x00\x00\x00\x02\xff\xfe",  # not UTF-8
    "x": b"x\x00\x00\x00\x02ab",
    "T": b"T" + b"\xff" * 8,  # beyond any datetime: RabbitMQ accepts it
    "t": b"t\x02",  # RabbitMQ reads any non-zero as true
    "V": b"V",
    "A": b"A\x00\x00\x00\x02b\x01",
    "F": b"F\x00\x00\x00\x03\x01kV",
}
TABLE = b"".join(entry(key.encode(), value) for key, value in VALUES.items())
HEADERS_FLAG = 0x2000
EXPIRATION_FLAG = 0x0100


def frame(frame_type: int, channel: int, payload: bytes) -> bytes:
    return struct.pack(">BHI", frame_type, channel, len(payload)) + payload + b"\xce"


def method_payload(method: commands.Frame) -> bytes:
    return struct.pack(">I", method.index) + method.marshal()


def raw_publish(routing_key: str, properties: bytes, exchange: str = "") -> bytes:
    method = method_payload(commands.Basic.Publish(exchange=exchange, routing_key=routing_key))
    body = b"payload"
    return (
        frame(1, 1, method)
        + frame(2, 1, struct.pack(">HHQ", 60, 0, len(body)) + properties)
        + frame(3, 1, body)
    )


def headers_properties(table: bytes, *, expiration: bytes = b"") -> bytes:
    flags = HEADERS_FLAG | (EXPIRATION_FLAG if expiration else 0)
    shortstr = bytes((len(expiration),)) + expiration if expiration else b""
    return struct.pack(">HI", flags, len(table)) + table + shortstr


async def get_properties(client: RawClient, queue: str) -> bytes | None:
    """basic.get with no-ack: the message's raw property bytes, or None when the queue is empty."""
    await client.send_method(1, commands.Basic.Get(queue=queue, no_ack=True))
    _, reply = await client.read_method()
    if isinstance(reply, commands.Basic.GetEmpty):
        return None
    assert isinstance(reply, commands.Basic.GetOk), reply
    header = await client.read_raw_frame()
    await client.read_raw_frame()  # the body
    return header[7 + 12 : -1]


async def open_client(port: int) -> RawClient:
    client = await RawClient.connect(port)
    await client.handshake()
    await client.open_channel(1)
    return client


async def declare(client: RawClient, queue: str, **arguments: object) -> None:
    await client.send_method(1, commands.Queue.Declare(queue=queue, arguments=arguments))
    assert isinstance((await client.read_method())[1], commands.Queue.DeclareOk)


async def test_every_field_type_reaches_the_consumer_byte_for_byte() -> None:
    with trio.fail_after(5):
        async with open_broker() as broker:
            client = await open_client(broker.port)
            await declare(client, "types")
            nested = entry(b"all", b"F" + struct.pack(">I", len(TABLE)) + TABLE)
            nested += entry(b"list", b"A" + struct.pack(">I", 9) + b"T" + b"\xff" * 8)
            for table in (TABLE, nested):
                properties = headers_properties(table)
                await client.send(raw_publish("types", properties))
                assert await get_properties(client, "types") == properties
            await client.aclose()


async def test_unknown_field_type_in_headers_closes_the_connection() -> None:
    """RabbitMQ's channel crashes on it (541); we refuse the frame (501), on the connection too."""
    with trio.fail_after(5):
        async with open_broker() as broker:
            client = await open_client(broker.port)
            for letter in (b"Z", b"\x00"):
                await client.send(raw_publish("q", headers_properties(entry(b"k", letter))))
                _, close = await client.read_method()
                assert isinstance(close, commands.Connection.Close)
                assert close.reply_code == 501
                await client.aclose()
                client = await open_client(broker.port)
            await client.aclose()


@pytest.mark.parametrize("key", sorted(VALUES))
async def test_headers_exchange_matches_each_field_type(key: str) -> None:
    value = VALUES[key]
    other = {"S": b"S\x00\x00\x00\x01z", "V": b"S\x00\x00\x00\x01z"}.get(key, b"S\x00\x00\x00\x00")
    with trio.fail_after(5):
        async with open_broker() as broker:
            client = await open_client(broker.port)
            await declare(client, "matched")
            arguments = entry(b"x-match", b"S\x00\x00\x00\x03all") + entry(b"h", value)
            bind = method_payload(commands.Queue.Bind(queue="matched", exchange="amq.headers"))
            bind = bind[:-4] + struct.pack(">I", len(arguments)) + arguments
            await client.send(frame(1, 1, bind))
            assert isinstance((await client.read_method())[1], commands.Queue.BindOk)
            for header, routed in ((value, True), (other, key == "V")):
                properties = headers_properties(entry(b"h", header))
                await client.send(raw_publish("", properties, exchange="amq.headers"))
                got = await get_properties(client, "matched")
                assert (got == properties) if routed else (got is None), (key, header)
            await client.aclose()


# RabbitMQ 3.10.8's dead-lettered copy of a message carrying TABLE and expiration "1000", rejected
# from queue src-probe into dlq-probe through the default exchange. Headers come out sorted by
# key, each with its type and value (a 't' of 2 is written back as 1); expiration moves into
# x-death; count is a long. The eight bytes after b"timeT" are the time of death.
RABBITMQ_DEAD_LETTERED = bytes.fromhex(
    "20000000018001414100000002620101444402ffffffff01464600000003016b560149490000000501535300"
    "000002fffe015454ffffffffffffffff01565602614242c80164643fb999999999999a0166663fc000000169"
    "69ffffffff016c6c0000000000000001017373000101747401017575ffff01787800000002616207782d6465"
    "6174684100000095460000009005636f756e746c000000000000000106726561736f6e530000000872656a65"
    "6374656405717565756553000000097372632d70726f62650474696d6554000000006b0943a60865786368616e"
    "676553000000000c726f7574696e672d6b657973410000000e53000000097372632d70726f6265136f726967"
    "696e616c2d65787069726174696f6e53000000043130303016782d66697273742d64656174682d65786368616e"
    "6765530000000013782d66697273742d64656174682d717565756553000000097372632d70726f626514782d"
    "66697273742d64656174682d726561736f6e530000000872656a6563746564027a6262ff"
)


async def test_dead_lettered_copy_keeps_every_header_type_as_rabbitmq() -> None:
    with trio.fail_after(5):
        async with open_broker() as broker:
            client = await open_client(broker.port)
            await declare(client, "dlq-probe")
            await declare(
                client,
                "src-probe",
                **{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq-probe"},
            )
            await client.send(
                raw_publish("src-probe", headers_properties(TABLE, expiration=b"1000"))
            )
            await client.send_method(1, commands.Basic.Get(queue="src-probe"))
            _, get_ok = await client.read_method()
            await client.read_raw_frame()
            await client.read_raw_frame()
            await client.send_method(
                1, commands.Basic.Reject(delivery_tag=get_ok.delivery_tag, requeue=False)
            )
            copy = await get_properties(client, "dlq-probe")
            assert copy is not None
            time_at = RABBITMQ_DEAD_LETTERED.index(b"\x04timeT") + 6
            expected = bytearray(RABBITMQ_DEAD_LETTERED)
            expected[time_at : time_at + 8] = copy[time_at : time_at + 8]
            assert copy == bytes(expected)
            await client.aclose()
