# pika's callback-style SelectConnection: declare, publish with confirms, consume, ack, close.
from __future__ import annotations

from typing import Any

import pika
from pika.channel import Channel
from pika.spec import Basic, BasicProperties


def test_select_connection_publish_consume_ack_roundtrip(amqp_url: str) -> None:
    received: list[bytes] = []
    confirmed: list[int] = []
    state: dict[str, Any] = {}

    def on_open(connection: pika.SelectConnection) -> None:
        connection.channel(on_open_callback=on_channel)

    def on_channel(channel: Channel) -> None:
        state["channel"] = channel
        channel.confirm_delivery(lambda frame: confirmed.append(frame.method.delivery_tag))
        channel.queue_declare("select-q", callback=lambda _frame: on_declared(channel))

    def on_declared(channel: Channel) -> None:
        channel.basic_qos(prefetch_count=1)
        channel.basic_consume("select-q", on_message)
        for n in range(3):
            channel.basic_publish("", "select-q", f"m{n}".encode())

    def on_message(
        channel: Channel, method: Basic.Deliver, _props: BasicProperties, body: bytes
    ) -> None:
        received.append(body)
        channel.basic_ack(method.delivery_tag)
        if len(received) == 3:
            state["connection"].close()

    connection = pika.SelectConnection(
        pika.URLParameters(amqp_url),
        on_open_callback=on_open,
        on_open_error_callback=lambda _c, error: state.setdefault("error", error),
    )
    state["connection"] = connection
    connection.ioloop.call_later(10, connection.ioloop.stop)  # a hang fails, not blocks
    connection.add_on_close_callback(lambda *_: connection.ioloop.stop())
    connection.ioloop.start()
    assert "error" not in state
    assert received == [b"m0", b"m1", b"m2"]
    assert confirmed and max(confirmed) == 3
