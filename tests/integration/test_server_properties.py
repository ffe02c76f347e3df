# What connection.start tells clients about the server: RabbitMQ's product and version by
# default, since clients and their own test suites (amqplib's serverProperties) look for them.
from __future__ import annotations

import pika
from amqp_clients import connect

from amqp_broker import BrokerConfig
from amqp_broker.testing import BrokerThread


def _server_properties(url: str) -> dict[str, object]:
    with connect(url) as connection:
        properties: dict[str, object] = connection._impl.server_properties  # pika keeps them here
        return properties


def test_the_server_reports_rabbitmq_and_names_itself_in_information(amqp_url: str) -> None:
    properties = _server_properties(amqp_url)
    assert properties["product"] == "RabbitMQ"
    assert properties["version"] == "3.10.8"
    assert str(properties["information"]).startswith("trio-amqp-broker ")
    assert isinstance(properties["capabilities"], dict)


def test_product_name_and_version_are_settings_as_in_rabbitmq() -> None:
    config = BrokerConfig(port=0, product_name="Acme MQ", product_version="9.9")
    with BrokerThread(config) as broker:
        properties = _server_properties(broker.url)
    assert (properties["product"], properties["version"]) == ("Acme MQ", "9.9")


def test_pika_sees_the_capabilities_it_asks_about(amqp_url: str) -> None:
    with pika.BlockingConnection(pika.URLParameters(amqp_url)) as connection:
        assert connection.publisher_confirms_supported
        assert connection.basic_nack_supported
        assert connection.consumer_cancel_notify_supported
        assert connection.exchange_exchange_bindings_supported
