# connection.update-secret (RabbitMQ's extension for expiring credentials) with pika's
# BlockingConnection.update_secret. The user store decides as RabbitMQ's internal user database
# does: passwords cannot expire, so any secret is taken (a live 3.10.8 node accepted
# "not the password" on a guest connection, and pika's own acceptance tests rely on it); a user
# removed from the store since login is refused.
from __future__ import annotations

import pika
import pika.exceptions
import pytest
from amqp_clients import connect

from amqp_broker.testing import BrokerThread


@pytest.mark.parametrize("secret", ["guest", "new_secret"])
def test_update_secret_gets_update_secret_ok(amqp_url: str, secret: str) -> None:
    connection = connect(amqp_url)
    try:
        channel = connection.channel()
        connection.update_secret(secret, "token refreshed")  # returns on update-secret-ok
        connection.update_secret(secret, "again")
        assert channel.is_open
        assert channel.queue_declare("after-update").method.queue == "after-update"
    finally:
        connection.close()


def test_update_secret_for_a_user_no_longer_in_the_store_closes_530(
    amqp_broker: BrokerThread, amqp_vhost: str
) -> None:
    def add_user() -> None:
        amqp_broker.broker.users.put_user("rotating", password="first")
        amqp_broker.broker.users.set_permissions("rotating", amqp_vhost)

    amqp_broker.call(add_user)
    url = amqp_broker.url_for(amqp_vhost).replace("guest:guest@", "rotating:first@")
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    amqp_broker.call(lambda: amqp_broker.broker.users.delete_user("rotating"))
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        connection.update_secret("second", "token refreshed")
        channel.queue_declare("never")
    assert closed.value.args == (530, "NOT_ALLOWED - New secret was refused by one of the backends")
