# What every Python driver shares: the scenario registry, unique names, and the one-line JSON
# result the runner reads.
#
# Protocol between the runner and a driver (node's suite.js speaks it too):
#   <driver> --list          prints the scenario names it implements, one per line
#   <driver> SCENARIO...     with AMQP_URL in the environment, runs them in order and prints one
#                            line per scenario as it finishes:
#                            {"scenario": "...", "ok": true|false, "detail": "...", "observed": ...}
# "observed" is what a scenario saw that RabbitMQ decides (a reply text, a redelivered flag), with
# the scenario's own random names replaced by placeholders, so the runner can compare it across
# brokers.
from __future__ import annotations

import asyncio
import inspect
import json
import os
import sys
import traceback
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, TypeVar

# The scenarios every client is asked for, in table order. A driver implements those its client can
# express; the others show as "n/a".
SCENARIOS: tuple[str, ...] = (
    "connect",
    "declare_bind",
    "publish_consume",
    "basic_get",
    "confirms",
    "qos_prefetch",
    "nack_requeue",
    "recover",
    "exchange_types",
    "large_message",
    "heartbeat_idle",
    "reconnect",
    "error_404",
    "error_406",
    "reply_texts",
)

# Bodies bigger than frame_max (131072 on both brokers), so they travel as several body frames.
LARGE_BODY = bytes(range(256)) * 4096 + b"end"


class RoutingCase(NamedTuple):
    """One row of the exchange_types scenario: a queue bound to a fresh exchange of `kind` with
    `binding_key` and `arguments` gets a message published with `routing_key` and `headers`
    exactly when `routed`."""

    kind: str
    binding_key: str
    arguments: dict[str, Any] | None
    routing_key: str
    headers: dict[str, Any] | None
    routed: bool


_ALL_H = {"x-match": "all", "h": "1"}
ROUTING_CASES = (
    RoutingCase("direct", "a", None, "a", None, True),
    RoutingCase("fanout", "", None, "anything", None, True),
    RoutingCase("topic", "a.*.c", None, "a.b.c", None, True),
    RoutingCase("topic", "a.#", None, "b.a", None, False),
    RoutingCase("headers", "", _ALL_H, "", {"h": "1"}, True),
    RoutingCase("headers", "", _ALL_H, "", {"h": "2"}, False),
)

# Long enough for several heartbeat intervals of HEARTBEAT seconds to pass without traffic.
HEARTBEAT = 1
IDLE_SECONDS = 3.5


class ScenarioError(AssertionError):
    """A scenario saw something other than what RabbitMQ's behaviour promises."""


def check(condition: object, message: str) -> None:
    if not condition:
        raise ScenarioError(message)


class Context:
    """What a scenario gets: the broker URL, a unique name prefix, and a place to record
    what it observed."""

    def __init__(self, client: str, scenario: str, url: str) -> None:
        self.url = url
        self.prefix = f"interop.{client}.{scenario}.{uuid.uuid4().hex[:8]}"
        self.observed: list[str] = []

    def name(self, suffix: str = "q") -> str:
        return f"{self.prefix}.{suffix}"

    def observe(self, value: object) -> None:
        """Record something the broker decided; the run-specific prefix is hidden."""
        self.observed.append(str(value).replace(self.prefix, "<p>"))


Scenario = Callable[[Context], None] | Callable[[Context], Awaitable[None]]
S = TypeVar("S", bound=Callable[..., Any])


class Driver:
    """A client's scenarios, registered with @driver.scenario, run by driver.main()."""

    def __init__(self, client: str) -> None:
        self.client = client
        self.scenarios: dict[str, Scenario] = {}

    def scenario(self, fn: S) -> S:
        """Decorator: register fn under its own name."""
        self.add(fn.__name__, fn)
        return fn

    def add(self, name: str, fn: Scenario) -> None:
        if name not in SCENARIOS:
            raise ValueError(f"{name} is not one of the suite's scenarios")
        self.scenarios[name] = fn

    def run(self, name: str, url: str) -> dict[str, object]:
        ctx = Context(self.client, name, url)
        fn = self.scenarios[name]
        try:
            if inspect.iscoroutinefunction(fn):
                asyncio.run(fn(ctx))
            else:
                fn(ctx)
        except Exception as exc:
            detail = f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}"
            tb = traceback.format_exc(limit=-3)
            return {"ok": False, "detail": detail.replace(ctx.prefix, "<p>"), "trace": tb}
        observed = "; ".join(ctx.observed) if ctx.observed else None
        return {"ok": True, "detail": "", "observed": observed}

    def main(self, argv: list[str] | None = None) -> None:
        args = sys.argv[1:] if argv is None else argv
        if args == ["--list"]:
            print("\n".join(name for name in SCENARIOS if name in self.scenarios))
            return
        if not args or any(name not in self.scenarios for name in args):
            sys.exit(f"usage: --list | SCENARIO... from {sorted(self.scenarios)}")
        url = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
        for name in args:
            result = self.run(name, url)
            sys.stdout.flush()
            print(json.dumps({"scenario": name, **result}), flush=True)
        # Clients that leave non-daemon threads behind must not keep the process alive.
        os._exit(0)
