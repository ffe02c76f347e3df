# rabbitmq-c through Debian's amqp-tools: each scenario runs the command-line tools the way a shell
# script would (amqp-declare-queue, amqp-publish, amqp-consume, amqp-get, amqp-delete-queue) and
# checks their output and exit status. Every tool invocation is its own connection.
from __future__ import annotations

import subprocess
import time
import urllib.parse

from interop.harness import HEARTBEAT, IDLE_SECONDS, LARGE_BODY, Context, Driver, check

driver = Driver("amqp-tools")
TIMEOUT = 20.0


def tool_url(url: str) -> str:
    """rabbitmq-c reads the URL's path as the vhost name, so `amqp://host/` means the vhost "",
    not "/" (other clients differ): the default vhost must be spelled `%2F`."""
    parts = urllib.parse.urlsplit(url)
    path = "/%2F" if parts.path in ("", "/") else parts.path
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def tool(
    ctx: Context, name: str, *args: str, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [name, "--url", tool_url(ctx.url), *args],
        input=stdin,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )


def ok(done: subprocess.CompletedProcess[bytes]) -> bytes:
    check(done.returncode == 0, f"{done.args[0]} exit {done.returncode}: {done.stderr!r}")
    return done.stdout


def declare(ctx: Context, suffix: str = "q") -> str:
    return ok(tool(ctx, "amqp-declare-queue", "--queue", ctx.name(suffix))).decode().strip()


def consume(ctx: Context, *args: str) -> subprocess.Popen[bytes]:
    """amqp-consume piping each message to `cat`, so stdout is the bodies in order."""
    command = ["amqp-consume", "--url", tool_url(ctx.url), *args, "cat"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(process: subprocess.Popen[bytes]) -> bytes:
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    check(process.returncode == 0, f"amqp-consume exit {process.returncode}: {err!r}")
    return out


def publish_until_consumed(
    ctx: Context, process: subprocess.Popen[bytes], exchange: str, key: str
) -> bytes:
    """amqp-consume declares and binds its queue before consuming, and says nothing when it is
    ready: publish until its one message (-c 1) arrives."""
    deadline = time.monotonic() + TIMEOUT
    while process.poll() is None:
        check(time.monotonic() < deadline, f"nothing routed through {exchange} with {key!r}")
        ok(tool(ctx, "amqp-publish", "--exchange", exchange, "--routing-key", key, "--body", "m"))
        time.sleep(0.1)
    return finish(process)


@driver.scenario
def connect(ctx: Context) -> None:
    queue = declare(ctx)
    check(queue == ctx.name(), f"declared {queue!r}")
    ok(tool(ctx, "amqp-delete-queue", "--queue", queue))


@driver.scenario
def declare_bind(ctx: Context) -> None:
    process = consume(ctx, "--exchange", "amq.direct", "--routing-key", ctx.name("k"), "-c", "1")
    check(publish_until_consumed(ctx, process, "amq.direct", ctx.name("k")) == b"m", "body")


@driver.scenario
def publish_consume(ctx: Context) -> None:
    queue = declare(ctx)
    lines = b"".join(b"m%d\n" % i for i in range(10))
    ok(tool(ctx, "amqp-publish", "--routing-key", queue, "--line-buffered", stdin=lines))
    out = finish(consume(ctx, "--queue", queue, "--count", "10"))
    check(out == lines, f"consumed {out!r}")  # -l keeps each line's newline in its body
    ok(tool(ctx, "amqp-delete-queue", "--queue", queue))


@driver.scenario
def basic_get(ctx: Context) -> None:
    queue = declare(ctx)
    empty = tool(ctx, "amqp-get", "--queue", queue)
    check(empty.returncode == 2 and empty.stdout == b"", f"get-empty: {empty}")
    for body in ("a", "b"):
        ok(tool(ctx, "amqp-publish", "--routing-key", queue, "--body", body))
    check(ok(tool(ctx, "amqp-get", "--queue", queue)) == b"a", "first message expected")
    check(ok(tool(ctx, "amqp-get", "--queue", queue)) == b"b", "second message expected")
    ok(tool(ctx, "amqp-delete-queue", "--queue", queue))


@driver.scenario
def exchange_types(ctx: Context) -> None:
    for exchange, binding, key in [
        ("amq.direct", ctx.name("a"), ctx.name("a")),
        # fanout ignores the key; amqp-consume 0.11 crashes binding without one
        ("amq.fanout", ctx.name("ignored"), "anything"),
        ("amq.topic", f"{ctx.name('a')}.*.c", f"{ctx.name('a')}.b.c"),
        ("amq.topic", f"{ctx.name('t')}.#", f"{ctx.name('t')}.x.y.z"),
    ]:
        process = consume(ctx, "--exchange", exchange, "--routing-key", binding, "-c", "1")
        check(publish_until_consumed(ctx, process, exchange, key) == b"m", f"{exchange} {key}")


@driver.scenario
def large_message(ctx: Context) -> None:
    queue = declare(ctx)
    ok(tool(ctx, "amqp-publish", "--routing-key", queue, stdin=LARGE_BODY))
    body = finish(consume(ctx, "--queue", queue, "--count", "1"))
    check(body == LARGE_BODY, f"body of {len(body)} bytes differs")
    ok(tool(ctx, "amqp-delete-queue", "--queue", queue))


@driver.scenario
def heartbeat_idle(ctx: Context) -> None:
    queue = declare(ctx)
    process = consume(ctx, f"--heartbeat={HEARTBEAT}", "--queue", queue, "--count", "1")
    time.sleep(IDLE_SECONDS)  # the consumer waits with nothing to read but heartbeats
    check(process.poll() is None, "the idle consumer's connection was closed")
    ok(tool(ctx, "amqp-publish", "--routing-key", queue, "--body", "still here"))
    check(finish(process) == b"still here", "unusable after idling")
    ok(tool(ctx, "amqp-delete-queue", "--queue", queue))


@driver.scenario
def reconnect(ctx: Context) -> None:
    queue = declare(ctx)
    for i in range(3):  # three connections, each opened and closed by the tool
        ok(tool(ctx, "amqp-publish", "--routing-key", queue, "--body", f"m{i}"))
    check(ok(tool(ctx, "amqp-get", "--queue", queue)) == b"m0", "first message expected")
    check(finish(consume(ctx, "--queue", queue, "--count", "2")) == b"m1m2", "the rest")
    ok(tool(ctx, "amqp-delete-queue", "--queue", queue))


@driver.scenario
def error_404(ctx: Context) -> None:
    done = tool(ctx, "amqp-get", "--queue", ctx.name("missing"))
    check(done.returncode == 1, f"exit {done.returncode}")
    ctx.observe(done.stderr.decode().strip())


@driver.scenario
def error_406(ctx: Context) -> None:
    queue = declare(ctx)
    done = tool(ctx, "amqp-declare-queue", "--durable", "--queue", queue)
    check(done.returncode == 1, f"exit {done.returncode}")
    ctx.observe(done.stderr.decode().strip())
    ok(tool(ctx, "amqp-delete-queue", "--queue", queue))


if __name__ == "__main__":
    driver.main()
