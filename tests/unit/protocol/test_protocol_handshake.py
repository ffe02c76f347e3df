# Start / Tune / Open negotiation, login, handshake timeout and heartbeats with a controlled clock.
from __future__ import annotations

import pytest
from pamqp import commands, encode, frame
from protocol_client import (
    FakeAuthenticator,
    closed_events,
    connection_close,
    connection_open,
    feed,
    is_heartbeat,
    methods,
    open_connection,
    sent,
    start_ok,
    tune_ok,
)

from amqp_broker.protocol.connection import AMQPConnection
from amqp_broker.protocol.events import ConnectionClosed, ConnectionOpened
from amqp_broker.protocol.framing import PROTOCOL_HEADER


def started(peer_is_loopback: bool = True, now: float = 0.0) -> AMQPConnection:
    conn = AMQPConnection(FakeAuthenticator(), peer_is_loopback=peer_is_loopback, now=now)
    feed(conn, PROTOCOL_HEADER, now)
    conn.data_to_send()
    return conn


def tuned() -> AMQPConnection:
    conn = started()
    feed(conn, start_ok())
    [tune] = methods(conn)
    assert isinstance(tune.value, commands.Connection.Tune)
    assert (tune.value.channel_max, tune.value.frame_max) == (2047, 131072)
    return conn


def amqplain(login: str, password: str) -> bytes:
    # AMQPLAIN is a field table without its 4-byte length prefix.
    return encode.field_table({"LOGIN": login, "PASSWORD": password})[4:]


def assert_silently_closed(conn: AMQPConnection, events: list[object]) -> None:
    assert [type(event) for event in events] == [ConnectionClosed]
    assert conn.closed
    assert conn.data_to_send() == b""


@pytest.mark.parametrize(
    ("mechanism", "response"),
    [
        ("PLAIN", "\x00guest\x00guest"),
        ("AMQPLAIN", amqplain("guest", "guest").decode("latin-1")),
    ],
)
def test_login_then_open_emits_connection_opened(mechanism: str, response: str) -> None:
    conn = started()
    assert feed(conn, start_ok(mechanism, response)) == []
    assert isinstance(methods(conn)[0].value, commands.Connection.Tune)
    assert feed(conn, tune_ok(heartbeat=0)) == []
    events = feed(conn, connection_open("/"))
    [open_ok] = methods(conn)
    assert isinstance(open_ok.value, commands.Connection.OpenOk)
    assert len(events) == 1
    assert isinstance(events[0], ConnectionOpened)
    assert (events[0].username, events[0].vhost) == ("guest", "/")
    assert conn.is_open


def test_wrong_password_with_authentication_failure_close_sends_403() -> None:
    conn = started()
    events = feed(conn, start_ok(response="\x00guest\x00nope"))
    close = connection_close(sent(conn))
    assert close is not None
    assert close.reply_code == 403
    assert close.reply_text.startswith("ACCESS_REFUSED - ")
    assert len(closed_events(events)) == 1
    # The socket stays open until the client has read the Close (RabbitMQ: for 3 s), so a
    # client does not see a reset in place of the 403.
    assert not conn.closed
    assert closed_events(feed(conn, frame.marshal(commands.Connection.CloseOk(), 0))) == []
    assert conn.closed


def test_wrong_password_without_capability_closes_silently() -> None:
    conn = started()
    events = feed(conn, start_ok(response="\x00guest\x00nope", capabilities={}))
    assert_silently_closed(conn, events)


def test_guest_from_non_loopback_is_refused() -> None:
    auth = FakeAuthenticator()
    conn = AMQPConnection(auth, peer_is_loopback=False)
    feed(conn, PROTOCOL_HEADER)
    conn.data_to_send()
    feed(conn, start_ok())
    assert auth.calls == [("guest", "guest", False)]
    close = connection_close(sent(conn))
    assert close is not None and close.reply_code == 403
    feed(conn, frame.marshal(commands.Connection.CloseOk(), 0))
    assert conn.closed


@pytest.mark.parametrize(
    ("mechanism", "response"),
    [
        ("EXTERNAL", ""),
        ("PLAIN", "guest"),  # no NUL separators
        ("AMQPLAIN", "\x05LOGINS\x00\x00\x00\x05gu"),  # truncated table
        ("AMQPLAIN", "\x05LOGINS\x00\x00\x00\x05guest"),  # no PASSWORD
    ],
)
def test_unusable_login_closes_silently(mechanism: str, response: str) -> None:
    conn = started()
    events = feed(conn, start_ok(mechanism, response))
    assert_silently_closed(conn, events)


@pytest.mark.parametrize(
    ("channel_max", "frame_max"),
    [
        pytest.param(2048, 131072, id="channel_max-2048"),
        pytest.param(65535, 131072, id="channel_max-65535"),
        pytest.param(0, 131072, id="channel_max-0"),
        pytest.param(2047, 4095, id="frame_max-4095"),
        pytest.param(2047, 1024, id="frame_max-1024"),
        pytest.param(2047, 131073, id="frame_max-131073"),
        pytest.param(2047, 0, id="frame_max-0"),
    ],
)
def test_tune_ok_out_of_range_closes_silently(channel_max: int, frame_max: int) -> None:
    conn = tuned()
    events = feed(conn, tune_ok(channel_max=channel_max, frame_max=frame_max))
    assert_silently_closed(conn, events)


@pytest.mark.parametrize(("channel_max", "frame_max"), [(1, 4096), (2047, 131072), (10, 8192)])
def test_tune_ok_in_range_is_accepted(channel_max: int, frame_max: int) -> None:
    conn = tuned()
    assert feed(conn, tune_ok(channel_max=channel_max, frame_max=frame_max)) == []
    assert not conn.closed
    assert (conn.channel_max, conn.frame_max) == (channel_max, frame_max)


def test_open_unknown_vhost_closes_530() -> None:
    conn = tuned()
    feed(conn, tune_ok())
    events = feed(conn, connection_open("nope"))
    close = connection_close(sent(conn))
    assert close is not None
    assert close.reply_code == 530
    assert close.reply_text.startswith("NOT_ALLOWED - ")
    assert [type(event) for event in events] == [ConnectionClosed]
    # The client's Close-Ok finishes it.
    feed(conn, b"\x01\x00\x00\x00\x00\x00\x04\x00\x0a\x00\x33\xce")
    assert conn.closed


def test_method_before_start_ok_closes_silently() -> None:
    conn = started()
    events = feed(conn, connection_open())
    assert_silently_closed(conn, events)


def test_start_ok_larger_than_frame_min_closes_silently() -> None:
    conn = started()
    big = commands.Connection.StartOk(
        client_properties={"pad": "x" * 5000}, mechanism="PLAIN", response="\x00guest\x00guest"
    )
    events = feed(conn, frame.marshal(big, 0))
    assert_silently_closed(conn, events)


# ---- time --------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["header", "start_ok", "tune_ok", "open"])
def test_handshake_timeout_closes(stage: str) -> None:
    conn = AMQPConnection(FakeAuthenticator(), now=100.0)
    steps = [PROTOCOL_HEADER, start_ok(), tune_ok()]
    for data in steps[: ["header", "start_ok", "tune_ok", "open"].index(stage)]:
        feed(conn, data, 101.0)
    conn.data_to_send()
    assert conn.tick(109.9, handshake_timeout=10.0) == 110.0
    assert conn.next_event() is None
    assert conn.tick(110.0, handshake_timeout=10.0) is None
    assert isinstance(conn.next_event(), ConnectionClosed)
    assert conn.closed
    assert conn.data_to_send() == b""


def test_no_handshake_timeout_once_open() -> None:
    conn = open_connection(now=0.0)
    assert conn.tick(1000.0, handshake_timeout=10.0) is None
    assert conn.next_event() is None
    assert not conn.closed


def test_idle_connection_sends_heartbeat_at_half_interval() -> None:
    conn = open_connection(heartbeat=10)
    assert conn.heartbeat == 10
    conn.tick(4.9, handshake_timeout=10.0)
    assert conn.data_to_send() == b""
    conn.tick(5.0, handshake_timeout=10.0)
    out = sent(conn)
    assert len(out) == 1 and is_heartbeat(out[0]) and out[0].channel == 0
    conn.receive_data(b"\x08\x00\x00\x00\x00\x00\x00\xce", 5.0)
    assert conn.next_event() is None
    conn.tick(9.0, handshake_timeout=10.0)
    assert conn.data_to_send() == b""  # the last heartbeat went out at 5
    conn.tick(10.0, handshake_timeout=10.0)
    assert [is_heartbeat(item) for item in sent(conn)] == [True]


def test_no_heartbeat_while_other_data_flows() -> None:
    conn = open_connection(heartbeat=10)
    conn.send_method(0, commands.Connection.Blocked(reason="x"))
    conn.tick(4.0, handshake_timeout=10.0)
    conn.data_to_send()  # sent at 4
    conn.tick(8.0, handshake_timeout=10.0)
    assert conn.data_to_send() == b""


def test_silent_client_times_out_after_two_intervals() -> None:
    conn = open_connection(heartbeat=10)
    conn.tick(20.0, handshake_timeout=10.0)
    conn.data_to_send()
    assert conn.next_event() is None
    assert conn.tick(20.01, handshake_timeout=10.0) is None
    assert isinstance(conn.next_event(), ConnectionClosed)
    assert conn.closed


def test_receiving_data_resets_the_heartbeat_timeout() -> None:
    conn = open_connection(heartbeat=10)
    conn.receive_data(b"\x08\x00\x00\x00\x00\x00\x00\xce", 15.0)
    assert conn.next_event() is None
    conn.tick(30.0, handshake_timeout=10.0)
    assert conn.next_event() is None
    assert not conn.closed
    conn.tick(35.01, handshake_timeout=10.0)
    assert isinstance(conn.next_event(), ConnectionClosed)


def test_heartbeat_zero_disables_timeouts() -> None:
    conn = open_connection(heartbeat=0)
    assert conn.tick(10_000.0, handshake_timeout=10.0) is None
    assert conn.data_to_send() == b""
    assert conn.next_event() is None
