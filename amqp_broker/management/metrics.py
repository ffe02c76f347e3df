# Prometheus metrics at /metrics (aggregated) and /metrics/per-object (per queue), under the names
# RabbitMQ's rabbitmq_prometheus plugin uses, so existing dashboards and alerts read them.
#
# Rules kept here:
# - Nothing is counted per message here: a custom collector reads broker state and the plain
#   integer totals the broker and server keep, at scrape time.
# - Each scrape builds its own registry from a snapshot, so several brokers in one process (tests)
#   never share or clash over metrics, and formatting happens off the broker's thread.
# - As RabbitMQ's plugin does, the metrics endpoint needs no login; it listens on loopback only.
from __future__ import annotations

from collections.abc import Callable, Iterator
from operator import attrgetter

import trio
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from amqp_broker import inspection
from amqp_broker.management.context import ManagementContext, totals_of
from amqp_broker.version import __version__


class BrokerCollector(Collector):
    """Reads the broker when Prometheus scrapes; per_object adds one series per queue."""

    def __init__(self, context: ManagementContext, *, per_object: bool) -> None:
        self.context = context
        self.per_object = per_object

    def collect(self) -> Iterator[Metric]:
        broker = self.context.broker
        queues = inspection.list_queues(broker)
        totals = totals_of(self.context.server)
        info = GaugeMetricFamily(
            "rabbitmq_build_info", "RabbitMQ-compatible build info", labels=["product_version"]
        )
        info.add_metric([__version__], 1)
        yield info
        for name, help_text, value in (
            ("rabbitmq_connections", "Connections currently open", len(broker.connections)),
            ("rabbitmq_channels", "Channels currently open", len(inspection.list_channels(broker))),
            (
                "rabbitmq_consumers",
                "Consumers currently connected",
                len(inspection.list_consumers(broker)),
            ),
            ("rabbitmq_queues", "Queues available", len(queues)),
        ):
            yield GaugeMetricFamily(name, help_text, value=value)
        per_queue: tuple[tuple[str, str, Callable[[inspection.QueueInfo], int]], ...] = (
            (
                "rabbitmq_queue_messages_ready",
                "Messages ready to be delivered to consumers",
                attrgetter("messages_ready"),
            ),
            (
                "rabbitmq_queue_messages_unacked",
                "Messages delivered to consumers but not yet acknowledged",
                attrgetter("messages_unacknowledged"),
            ),
            (
                "rabbitmq_queue_messages",
                "Sum of ready and unacknowledged messages",
                attrgetter("messages"),
            ),
            ("rabbitmq_queue_consumers", "Consumers on a queue", attrgetter("consumers")),
        )
        for name, help_text, read in per_queue:
            if self.per_object:
                family = GaugeMetricFamily(name, help_text, labels=["vhost", "queue"])
                for queue in queues:
                    family.add_metric([queue.vhost, queue.name], read(queue))
            else:
                family = GaugeMetricFamily(
                    name, help_text, value=sum(read(queue) for queue in queues)
                )
            yield family
        for name, help_text, value in (
            (
                "rabbitmq_global_messages_received",
                "Total number of messages received from publishers",
                totals.publish,
            ),
            (
                "rabbitmq_global_messages_delivered",
                "Total number of messages delivered to consumers (basic.deliver and basic.get)",
                totals.deliver_get,
            ),
            (
                "rabbitmq_global_messages_acknowledged",
                "Total number of messages acknowledged by consumers",
                totals.ack,
            ),
            (
                "rabbitmq_connection_incoming_bytes",
                "Total number of bytes received on connections",
                totals.bytes_in,
            ),
            (
                "rabbitmq_connection_outgoing_bytes",
                "Total number of bytes sent on connections",
                totals.bytes_out,
            ),
        ):
            yield CounterMetricFamily(name, help_text, value=value)


class _Snapshot(Collector):
    """Metric families already read from the broker, for formatting in a worker thread."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


async def _scrape(collector: BrokerCollector) -> bytes:
    """Read the broker on its own thread (fast), then format the text in a worker thread:
    prometheus_client's formatting is most of a large scrape's cost and needs no broker
    state, so AMQP traffic is not held up by it."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(list(collector.collect())))
    text: bytes = await trio.to_thread.run_sync(generate_latest, registry)
    return text


def routes(context: ManagementContext) -> list[Route]:
    aggregated = BrokerCollector(context, per_object=False)
    per_object = BrokerCollector(context, per_object=True)

    async def metrics(request: Request) -> Response:
        return Response(await _scrape(aggregated), media_type=CONTENT_TYPE_LATEST)

    async def metrics_per_object(request: Request) -> Response:
        return Response(await _scrape(per_object), media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", metrics), Route("/metrics/per-object", metrics_per_object)]
