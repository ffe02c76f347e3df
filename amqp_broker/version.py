# The package version, in a module of its own so every layer can read it without import cycles.
__version__ = "0.1.0"
# The RabbitMQ release whose behaviour this broker follows, and which it reports as its product
# version unless configured otherwise (BrokerConfig.product_version).
RABBITMQ_VERSION = "3.10.8"
