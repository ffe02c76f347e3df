# The management API's HTTP listener: hypercorn's trio worker serving the starlette app inside
# the broker's own trio run, beside BrokerServer.
#
# Why hypercorn + starlette: hypercorn is the one well-kept ASGI server with a native trio worker
# (uvicorn and granian are asyncio-only), its serve() reports the bound addresses through
# task_status so port 0 works without races, and starlette runs on trio through anyio. Handlers
# then run on the broker's thread and call the synchronous broker directly, with no locks.
#
# Rules kept here:
# - The listener stops when the BrokerServer stops (its `stopped` event), so every way of running
#   the broker (CLI, open_broker, BrokerThread) only has to start it.
# - Loopback by default; the broker's rate sampler runs in the same nursery.
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any, cast

import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve
from hypercorn.typing import Framework

from amqp_broker.management.app import build_app
from amqp_broker.management.context import SAMPLE_INTERVAL, ManagementContext, totals_of
from amqp_broker.server import BrokerServer

log = logging.getLogger("amqp_broker.management")


@dataclass(frozen=True, slots=True)
class ManagementAddress:
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def _hypercorn_config(host: str, port: int) -> Config:
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = log
    config.graceful_timeout = 1.0
    return config


async def _sample_rates(context: ManagementContext) -> None:
    while True:
        context.rates.sample(trio.current_time(), totals_of(context.server))
        await trio.sleep(SAMPLE_INTERVAL)


async def _serve_http(
    app: Framework,
    config: Config,
    server: BrokerServer,
    done: trio.CancelScope,
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    await hypercorn_serve(
        app, config, shutdown_trigger=server.stopped.wait, task_status=task_status
    )
    done.cancel()  # the broker has stopped: stop the sampler too


async def serve_management(
    server: BrokerServer,
    port: int = 15672,
    host: str = "127.0.0.1",
    *,
    task_status: trio.TaskStatus[ManagementAddress] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the management API for `server` until it stops; `await nursery.start(...)`
    returns the bound address (port 0 picks a free one)."""
    context = ManagementContext(server)
    app = cast(Framework, build_app(context))
    async with trio.open_nursery() as nursery:
        serve: Any = functools.partial(
            _serve_http, app, _hypercorn_config(host, port), server, nursery.cancel_scope
        )
        binds: list[str] = await nursery.start(serve)
        context.http_port = int(binds[0].rsplit(":", 1)[1])
        nursery.start_soon(_sample_rates, context)
        task_status.started(ManagementAddress(host, context.http_port))
