# Limits the protocol layer enforces before anything is buffered.
from __future__ import annotations

from pamqp import commands
from protocol_client import (
    channel_close,
    content_body,
    content_header,
    feed,
    marshal,
    open_channel,
    open_connection,
    sent,
)

from amqp_broker.protocol.connection import ConnectionSettings
from amqp_broker.protocol.events import ContentReceived


def test_declared_body_above_max_message_size_closes_the_channel_at_the_header() -> None:
    conn = open_connection(settings=ConnectionSettings(max_message_size=10))
    open_channel(conn)
    data = (
        marshal(commands.Basic.Publish(routing_key="q"), 1)
        + content_header(1, 2**63)  # a huge declared size: refused before any body arrives
        + content_body(1, b"x" * 10)
    )
    events = feed(conn, data)
    assert not [event for event in events if isinstance(event, ContentReceived)]
    closed = channel_close(sent(conn))
    assert closed is not None
    number, close = closed
    assert number == 1
    assert (close.reply_code, close.class_id, close.method_id) == (406, 60, 40)
    assert close.reply_text == (
        f"PRECONDITION_FAILED - message size {2**63} is larger than configured max size 10"
    )
    assert conn.is_open  # only the channel closes; its body frames were dropped unread


def test_body_of_exactly_max_message_size_is_accepted() -> None:
    conn = open_connection(settings=ConnectionSettings(max_message_size=10))
    open_channel(conn)
    data = (
        marshal(commands.Basic.Publish(routing_key="q"), 1)
        + content_header(1, 10)
        + content_body(1, b"x" * 10)
    )
    events = feed(conn, data)
    assert [event.body for event in events if isinstance(event, ContentReceived)] == [b"x" * 10]
