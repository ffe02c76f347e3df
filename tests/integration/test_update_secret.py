# connection.update-secret (RabbitMQ's extension for expiring credentials) with pika's
# BlockingConnection.update_secret: a new secret is checked against the user store as at login.
from __future__ import annotations

import pika.exceptions
import pytest
from amqp_clients import connect


def test_update_secret_with_the_users_secret_gets_update_secret_ok(amqp_url: str) -> None:
    connection = connect(amqp_url)
    try:
        channel = connection.channel()
        connection.update_secret("guest", "token refreshed")  # returns on update-secret-ok
        connection.update_secret("guest", "again")
        assert channel.queue_declare("after-update").method.queue == "after-update"
    finally:
        connection.close()


def test_update_secret_refused_closes_the_connection_530(amqp_url: str) -> None:
    connection = connect(amqp_url)
    channel = connection.channel()
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        connection.update_secret("not the password", "token refreshed")
        channel.queue_declare("never")
    assert closed.value.args == (530, "NOT_ALLOWED - New secret was refused by one of the backends")
    assert not connection.is_open
