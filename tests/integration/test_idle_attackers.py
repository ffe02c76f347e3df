# Slow and idle attackers: a thousand sockets that connect and then send nothing, or a byte a
# second, must not keep a real client from connecting and working, and are all dropped at the
# handshake timeout. Real time (a short handshake timeout), bounded by fail_after.
from __future__ import annotations

import resource

import trio
from amqp_raw_client import PROTOCOL_HEADER, RawClient
from pamqp import commands

from amqp_broker.config import BrokerConfig
from amqp_broker.testing import open_broker

ATTACKERS = 1000
# Each attacker costs two descriptors in this process (its socket and the broker's end).
NEEDED_FDS = 2 * ATTACKERS + 256


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < NEEDED_FDS:
        new_hard = hard if hard == resource.RLIM_INFINITY else max(hard, NEEDED_FDS)
        resource.setrlimit(resource.RLIMIT_NOFILE, (NEEDED_FDS, new_hard))


async def _trickle(stream: trio.SocketStream, dropped: list[int]) -> None:
    """Send the protocol header one byte a second (then silence) until the broker hangs up."""
    try:
        for byte in PROTOCOL_HEADER[:-1]:
            await stream.send_all(bytes([byte]))
            await trio.sleep(1.0)
        while await stream.receive_some(4096):
            pass
    except trio.BrokenResourceError:
        pass
    dropped.append(1)


async def _silent(stream: trio.SocketStream, dropped: list[int]) -> None:
    while await stream.receive_some(4096):
        pass
    dropped.append(1)


async def test_thousand_idle_and_trickling_sockets_do_not_lock_out_a_real_client() -> None:
    _raise_fd_limit()
    config = BrokerConfig(port=0, handshake_timeout=3.0)
    async with open_broker(config) as broker:
        dropped: list[int] = []
        streams = []
        try:
            with trio.fail_after(60):
                async with trio.open_nursery() as nursery:
                    for number in range(ATTACKERS):
                        stream = await trio.open_tcp_stream("127.0.0.1", broker.port)
                        streams.append(stream)
                        attack = _trickle if number % 2 else _silent
                        nursery.start_soon(attack, stream, dropped)
                    # All attackers are connected: a real client still gets in and works.
                    client = await RawClient.connect(broker.port)
                    await client.handshake()
                    await client.open_channel()
                    await client.send_method(1, commands.Queue.Declare(queue="real"))
                    _, declare_ok = await client.read_method()
                    assert isinstance(declare_ok, commands.Queue.DeclareOk)
                    await client.publish(1, "real", b"still working")
                    await client.send_method(1, commands.Basic.Get(queue="real", no_ack=True))
                    _, get_ok = await client.read_method()
                    assert isinstance(get_ok, commands.Basic.GetOk), get_ok
                    await client.read_frame()  # the content header
                    _, body = await client.read_frame()
                    assert body.value == b"still working"
            # Every attacker was dropped by the broker (the nursery ends only when all saw EOF),
            # while the real client stays connected.
            assert len(dropped) == ATTACKERS
            await client.send_method(1, commands.Basic.Get(queue="real", no_ack=True))
            _, get_empty = await client.read_method()
            assert isinstance(get_empty, commands.Basic.GetEmpty)
            await client.aclose()
        finally:
            for stream in streams:
                await stream.aclose()
