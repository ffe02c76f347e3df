# RabbitMQ's management HTTP API (a subset, same paths, field names and status codes), Prometheus
# metrics, and the client the `amqp-broker ctl` verbs use. docs/management.md describes it.
from amqp_broker.management.listener import ManagementAddress, serve_management

__all__ = ["ManagementAddress", "serve_management"]
