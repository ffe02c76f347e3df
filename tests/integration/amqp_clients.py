# Connecting the blocking clients the integration tests use to an `amqp_url` (a per-test vhost).
from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable

import amqp
import pika
from pika.adapters.blocking_connection import BlockingChannel


def connect(url: str) -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.URLParameters(url))


def vhost_of(url: str) -> str:
    return urllib.parse.unquote(url.rsplit("/", 1)[1])


def amqp_connect(url: str) -> amqp.Connection:
    """py-amqp, for what pika will not send (immediate, unknown consumer tags, ...)."""
    parts = urllib.parse.urlsplit(url)
    connection = amqp.Connection(f"{parts.hostname}:{parts.port}", virtual_host=vhost_of(url))
    connection.connect()
    return connection


def ready_count(channel: BlockingChannel, queue: str) -> int:
    return int(channel.queue_declare(queue, passive=True).method.message_count)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, step: float = 0.01) -> None:
    """Poll until `predicate()` holds (for TTLs and timers that run on their own); fails the
    test with AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(step)
