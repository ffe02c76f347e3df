# The broker under a hypothesis fuzzer that speaks to it over real sockets.
#
# Pass means: every session ends with the broker closing the socket (after a Close frame with a
# spec reply code, never 541), every targeted attack gets the reply code RabbitMQ sends, nothing
# is logged as an error or unhandled exception, a healthy client on another connection keeps
# publishing and consuming throughout, and connections, queued bytes and memory come back to
# their baseline. FUZZ_EXAMPLES (bench/fuzz_long.py) runs it longer, with a random seed.
from __future__ import annotations

import gc
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pika
import pytest
from hypothesis import HealthCheck, given, settings
from wire_inputs import ANY, SILENT, SURVIVES, Session, sessions
from wire_session import HARD_CODES, SOFT_CODES, Outcome, run_session

from amqp_broker.config import BrokerConfig
from amqp_broker.testing import BrokerThread

FUZZ_VHOST = "fuzz"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "600"))
MIN_INPUTS = int(os.environ.get("FUZZ_MIN_INPUTS", "10000"))
MEMORY_TOLERANCE = 48 * 1024 * 1024


class ErrorLog(logging.Handler):
    """Everything the broker logs at ERROR or above: an unhandled exception is a failure."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class HealthyClient:
    """Publishes and gets one message at a time on its own connection for as long as it runs."""

    url: str
    round_trips: int = 0
    longest_gap: float = 0.0
    errors: list[BaseException] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        try:
            with pika.BlockingConnection(pika.URLParameters(self.url)) as connection:
                channel = connection.channel()
                channel.queue_declare("healthy", exclusive=True)
                last = time.monotonic()
                while not self._stop.is_set():
                    payload = str(self.round_trips).encode()
                    channel.basic_publish("", "healthy", payload)
                    _, _, body = channel.basic_get("healthy", auto_ack=True)
                    assert body == payload, (body, payload)
                    self.round_trips += 1
                    now = time.monotonic()
                    self.longest_gap = max(self.longest_gap, now - last)
                    last = now
                    time.sleep(0.002)
        except BaseException as exc:
            self.errors.append(exc)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="healthy-client", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=10)


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture
def broker() -> Iterator[BrokerThread]:
    with BrokerThread(BrokerConfig(port=0, handshake_timeout=5.0)) as running:
        running.call(lambda: running.broker.add_vhost(FUZZ_VHOST))
        yield running


def check_session(session: Session, outcome: Outcome) -> None:
    assert outcome.leftover == b"", "the broker sent a partial frame"
    close = outcome.connection_close
    if close is not None and session.logged_in:
        assert close.reply_code in HARD_CODES, outcome.describe()
    for channel_close in outcome.channel_closes:
        assert channel_close.reply_code in SOFT_CODES, channel_close
    if not session.logged_in:
        # Before login: our header back, a 403 for a wrong password, or just a closed socket
        # (a mutation late in the handshake may hit an open connection: then a hard error).
        assert close is None or close.reply_code in HARD_CODES | {403}, outcome.describe()
        kind = session.terminal.kind if session.terminal else ""
        if kind == "garbage":  # RabbitMQ answers a bad protocol header with its own, then closes
            assert outcome.header_echoed and not outcome.replies, outcome.describe()
        elif kind == "password":
            assert close is not None and close.reply_code == 403, outcome.describe()
            assert close.reply_text.startswith("ACCESS_REFUSED - Login was refused")
        return
    terminal = session.terminal
    if terminal is None:
        assert outcome.close_ok and close is None, outcome.describe()  # safe inputs never kill it
        return
    if terminal.expect == SURVIVES:
        assert outcome.close_ok and close is None, outcome.describe()
    elif terminal.expect == SILENT:
        assert close is None and not outcome.close_ok, outcome.describe()
    elif terminal.expect != ANY:
        assert close is not None, (terminal.kind, outcome.describe())
        assert close.reply_code == terminal.expect, (terminal.kind, close)
    if terminal.channel_code is not None:
        last_channel = session.inputs  # the terminal input's channel
        codes = [
            value.reply_code
            for number, value in outcome.replies
            if number == last_channel and hasattr(value, "reply_code")
        ]
        assert codes == [terminal.channel_code], (terminal.kind, outcome.describe())


@pytest.mark.timeout(0 if "FUZZ_EXAMPLES" in os.environ else 120)
def test_fuzzed_sessions_end_cleanly_while_a_healthy_client_works(broker: BrokerThread) -> None:
    errors = ErrorLog()
    logger = logging.getLogger("amqp_broker")
    logger.addHandler(errors)
    healthy = HealthyClient(broker.url)
    healthy.start()
    inputs = 0
    kinds: dict[str, int] = {}
    session_time = [0.0]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize="FUZZ_EXAMPLES" not in os.environ,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(session=sessions(FUZZ_VHOST))
    def fuzz(session: Session) -> None:
        nonlocal inputs
        t0 = time.monotonic()
        outcome = run_session(broker.port, session.data)
        session_time[0] += time.monotonic() - t0
        check_session(session, outcome)
        inputs += session.inputs
        if session.terminal is not None:
            kinds[session.terminal.kind] = kinds.get(session.terminal.kind, 0) + 1

    try:
        for _ in range(30):  # warm up: imports, caches and allocator arenas settle first
            run_session(broker.port, b"AMQP\x00\x00\x09\x01")
        gc.collect()
        baseline_rss = _rss()
        baseline_connections = broker.call(lambda: len(broker.broker.connections))
        started = time.monotonic()
        fuzz()
        elapsed = time.monotonic() - started
    finally:
        healthy.stop()
        logger.removeHandler(errors)

    assert not healthy.errors, healthy.errors
    assert not errors.records, [errors.format(record) for record in errors.records]
    assert inputs >= MIN_INPUTS, inputs
    assert healthy.round_trips > 0
    # Every fuzzed connection is gone, and deleting their vhost gives back what they queued.
    deadline = time.monotonic() + 10
    while broker.call(lambda: len(broker.broker.connections)) > baseline_connections - 0:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    broker.call(lambda: broker.broker.delete_vhost(FUZZ_VHOST))
    assert broker.call(lambda: len(broker.broker.connections)) <= baseline_connections
    assert broker.call(lambda: broker.broker.meter.used) == 0
    gc.collect()
    assert _rss() - baseline_rss < MEMORY_TOLERANCE
    print(
        f"\nfuzz: {inputs} inputs in {elapsed:.1f} s ({session_time[0]:.1f} s in sessions); "
        f"healthy client: {healthy.round_trips} round trips, longest gap "
        f"{healthy.longest_gap * 1000:.0f} ms; attacks {kinds}"
    )
