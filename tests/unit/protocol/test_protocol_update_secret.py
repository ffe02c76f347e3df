# connection.update-secret in the sans-IO connection: the user store is asked, its yes gives
# update-secret-ok, its no closes the connection 530 blaming connection.update-secret (10, 70).
from __future__ import annotations

from pamqp import commands
from protocol_client import (
    FakeAuthenticator,
    closed_events,
    connection_close,
    connection_open,
    feed,
    marshal,
    methods,
    sent,
    start_ok,
    tune_ok,
)

from amqp_broker.protocol.connection import AMQPConnection
from amqp_broker.protocol.framing import PROTOCOL_HEADER


class RecordingStore(FakeAuthenticator):
    def __init__(self, allow: bool) -> None:
        super().__init__()
        self.allow = allow
        self.asked: list[tuple[str, str]] = []

    def secret_update_allowed(self, username: str, secret: str) -> bool:
        self.asked.append((username, secret))
        return self.allow


def opened(store: RecordingStore) -> AMQPConnection:
    conn = AMQPConnection(store)
    for data in (PROTOCOL_HEADER, start_ok(), tune_ok(), connection_open()):
        feed(conn, data)
    assert conn.is_open
    conn.data_to_send()
    return conn


def update_secret(secret: str) -> bytes:
    return marshal(commands.Connection.UpdateSecret(new_secret=secret, reason="rotated"))


def test_allowed_secret_gets_update_secret_ok_and_the_connection_goes_on() -> None:
    store = RecordingStore(allow=True)
    conn = opened(store)
    assert feed(conn, update_secret("token-2")) == []
    assert [type(item.value) for item in methods(conn)] == [commands.Connection.UpdateSecretOk]
    assert store.asked == [("guest", "token-2")]
    assert conn.is_open


def test_refused_secret_closes_the_connection_530() -> None:
    conn = opened(RecordingStore(allow=False))
    events = feed(conn, update_secret("token-2"))
    close = connection_close(sent(conn))
    assert close is not None
    assert (close.reply_code, close.reply_text, close.class_id, close.method_id) == (
        530,
        "NOT_ALLOWED - New secret was refused by one of the backends",
        10,
        70,
    )
    assert len(closed_events(events)) == 1
