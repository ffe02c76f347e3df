# Celery over kombu/py-amqp: a real worker (`celery worker`, solo pool, a subprocess) executes
# tasks sent through the broker, and results come back through the rpc:// backend (reply queues on
# the same broker). The app below is what both the sending side and the worker load.
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from celery import Celery

from interop.harness import Context, Driver, check

driver = Driver("celery")
QUEUE_VARIABLE = "INTEROP_CELERY_QUEUE"

app = Celery("interop", broker=os.environ.get("AMQP_URL"), backend="rpc://")
app.conf.update(
    task_default_queue=os.environ.get(QUEUE_VARIABLE, "interop.celery"),
    broker_connection_retry_on_startup=False,
    worker_hijack_root_logger=False,
    task_acks_late=True,
)


@app.task(name="interop.add")
def add(x: int, y: int) -> int:
    return x + y


@app.task(name="interop.fail")
def fail() -> None:
    raise ValueError("boom")


@contextmanager
def _worker(ctx: Context) -> Iterator[None]:
    """`celery worker` on this app and a queue of the scenario's own, stopped by a broadcast
    `shutdown` (the remote-control fanout exchange), the way `celery control shutdown` does."""
    queue = ctx.name("tasks")
    app.conf.task_default_queue = queue
    command = [sys.executable, "-m", "celery", "-A", "interop.drivers.celery_driver", "worker"]
    options = ["--pool=solo", "--concurrency=1", "--loglevel=WARNING", "--without-gossip"]
    options += ["--without-mingle", "--without-heartbeat", f"--queues={queue}", f"-n{queue}"]
    worker = subprocess.Popen(
        [*command, *options],
        env={**os.environ, "AMQP_URL": ctx.url, QUEUE_VARIABLE: queue},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield
    finally:
        app.control.shutdown(destination=[f"celery@{queue}"])
        try:
            _out, err = worker.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            _out, err = worker.communicate()
        check(worker.returncode == 0, f"worker exit {worker.returncode}: {err[-500:]}")


@driver.scenario
def connect(ctx: Context) -> None:
    app.conf.broker_url = ctx.url
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1)
        check(connection.connected, "not connected")


@driver.scenario
def publish_consume(ctx: Context) -> None:
    """Tasks go through the broker to a worker; results and a task's error come back."""
    app.conf.broker_url = ctx.url
    with _worker(ctx):
        results = [add.delay(i, i) for i in range(5)]
        values = [result.get(timeout=30) for result in results]
        check(values == [0, 2, 4, 6, 8], f"got {values}")
        try:
            fail.delay().get(timeout=30)
            raise AssertionError("a failing task's error did not come back")
        except ValueError as exc:
            ctx.observe(f"task error {exc}")


if __name__ == "__main__":
    driver.main()
