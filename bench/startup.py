# Start-up time and idle memory of the broker the ways tests run it: in a trio run
# (open_broker), in a background thread (BrokerThread), and as a subprocess (BrokerProcess).
#
# Each start is timed from the call that starts the broker to (a) the first TCP connection
# accepted and (b) Connection.Start received after sending the protocol header, i.e. the broker
# really serving AMQP. In-process figures exclude importing the package (measured on its own, in
# a fresh interpreter, as "import"); the subprocess figures include the interpreter and imports,
# and the CPU time the broker process used until (b). The subprocess listens before it loads
# trio and the broker, so (a) comes well before (b) there (docs/performance.md, cold start).
# The packages are byte-compiled first, as an installed wheel is (bench/brokers.py says why).
#
#   .venv/bin/python -m bench.startup [--runs 7]
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import trio

from amqp_broker.testing import BrokerProcess, BrokerThread, open_broker
from bench.brokers import compile_broker

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
CONNECTION_START = b"\x01\x00\x00"  # a method frame on channel 0: Connection.Start comes first


def _first_frame(sock: socket.socket) -> None:
    sock.sendall(PROTOCOL_HEADER)
    data = sock.recv(7)
    assert data.startswith(CONNECTION_START), data


def _connect_sync(port: int, started: float) -> tuple[float, float]:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        accepted = time.perf_counter() - started
        _first_frame(sock)
        return accepted, time.perf_counter() - started


def start_trio() -> tuple[float, float]:
    async def main() -> tuple[float, float]:
        started = time.perf_counter()
        async with open_broker() as broker:
            stream = await trio.open_tcp_stream("127.0.0.1", broker.port)
            accepted = time.perf_counter() - started
            await stream.send_all(PROTOCOL_HEADER)
            data = await stream.receive_some(7)
            served = time.perf_counter() - started
            assert data.startswith(CONNECTION_START), data
            await stream.aclose()
        return accepted, served

    return trio.run(main)


def start_thread() -> tuple[float, float]:
    started = time.perf_counter()
    with BrokerThread() as broker:
        return _connect_sync(broker.port, started)


def _start_process(broker: BrokerProcess) -> tuple[float, float, float]:
    started = time.perf_counter()
    with broker:
        accepted, served = _connect_sync(broker.port, started)
        assert broker.process is not None
        return accepted, served, cpu_seconds(broker.process.pid)


def start_process() -> tuple[float, float, float]:
    return _start_process(BrokerProcess())


def start_process_data_dir() -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as base:
        return _start_process(BrokerProcess(data_dir=str(Path(base) / "data")))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def import_seconds() -> float:
    code = "import time; t = time.perf_counter(); import amqp_broker.testing; "
    code += "print(time.perf_counter() - t)"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return float(output)


def idle_memory() -> tuple[int, int]:
    """RSS of an idle broker process, and what a BrokerThread adds to this process."""
    with BrokerProcess() as process:
        assert process.process is not None
        _connect_sync(process.port, time.perf_counter())  # loaded: it listens before that
        process_kib = rss_kib(process.process.pid)
    before = rss_kib()
    with BrokerThread():
        added_kib = rss_kib() - before
    return process_kib, added_kib


def _report(name: str, start: Callable[[], tuple[float, ...]], runs: int) -> None:
    accepted, served, *cpu = zip(*(start() for _ in range(runs)), strict=True)
    line = (
        f"{name:<22} accepted: median {statistics.median(accepted) * 1000:7.1f} ms, "
        f"min {min(accepted) * 1000:7.1f} ms   Connection.Start: median "
        f"{statistics.median(served) * 1000:7.1f} ms"
    )
    if cpu:
        line += f"   CPU: median {statistics.median(cpu[0]) * 1000:5.0f} ms"
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    compile_broker()
    print(f"python {sys.version.split()[0]}, {runs} runs each, {threading.active_count()} thread")
    print("load average (1, 5, 15 min):", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"{'import amqp_broker':<22} {import_seconds() * 1000:7.1f} ms (fresh interpreter)")
    _report("in-process, trio", start_trio, runs)
    _report("in-process, thread", start_thread, runs)
    _report("subprocess", start_process, runs)
    _report("subprocess, --data-dir", start_process_data_dir, runs)
    process_kib, added_kib = idle_memory()
    print(f"idle memory: broker process {process_kib / 1024:.1f} MiB RSS; ", end="")
    print(f"a BrokerThread adds {added_kib} KiB to its host process (after imports)")


if __name__ == "__main__":
    main()
