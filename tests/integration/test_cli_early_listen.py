# `amqp-broker` listens before it loads trio and the broker (cold start): what a client or a
# supervisor sees in that window must be what it sees later, only slower.
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pika
import pytest
import trio

from amqp_broker import foreground
from amqp_broker.config import BrokerConfig
from amqp_broker.listeners import bind_tcp, bound_address
from amqp_broker.store.directory import DataDirectory, StoreError

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "amqp_broker", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _port(process: subprocess.Popen[str]) -> int:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert " listening on amqp://" in line, line
    return urllib.parse.urlsplit(line.rsplit(" ", 1)[1].strip()).port or 0


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, data
        data += chunk
    return data


def test_client_connecting_at_the_listening_line_is_served(tmp_path: Path) -> None:
    process = _start("--data-dir", str(tmp_path / "data"))
    try:
        port = _port(process)
        # at once, while the broker is most likely still importing: the kernel accepts
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            raw.sendall(PROTOCOL_HEADER)
            header = _recv_exactly(raw, 7)
            assert header[:3] == b"\x01\x00\x00"  # a method frame on channel 0
            payload = _recv_exactly(raw, int.from_bytes(header[3:], "big") + 1)
            assert payload[:4] == b"\x00\x0a\x00\x0a"  # connection.start
        parameters = pika.URLParameters(f"amqp://guest:guest@127.0.0.1:{port}/")
        with pika.BlockingConnection(parameters) as connection:
            channel = connection.channel()
            channel.queue_declare("early", durable=True)
            channel.basic_publish("", "early", b"served")
            _, _, body = channel.basic_get("early", auto_ack=True)
        assert body == b"served"
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_sigterm_right_after_the_listening_line_stops_cleanly(tmp_path: Path) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        process = _start("--data-dir", str(tmp_path / "data"))
        try:
            _port(process)
            process.send_signal(sig)  # most likely while it loads: nothing is served yet
            assert process.wait(timeout=10) == 0
            assert process.stderr is not None
            assert "Traceback" not in process.stderr.read()
        finally:
            process.kill()
            process.wait()
        DataDirectory.open(tmp_path / "data").close()  # the lock was released


def test_port_in_use_is_one_line_and_no_listening_line() -> None:
    (owner,) = bind_tcp("127.0.0.1", 0)
    with owner:
        port = bound_address(owner).port
        result = subprocess.run(
            [sys.executable, "-m", "amqp_broker", "--in-memory", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"amqp-broker: cannot listen on 127.0.0.1:{port}: ")


def test_locked_data_dir_fails_before_the_listening_line(tmp_path: Path) -> None:
    holder = DataDirectory.open(tmp_path)
    try:
        process = _start("--data-dir", str(tmp_path))
        stdout, stderr = process.communicate(timeout=30)
    finally:
        holder.close()
    assert process.returncode == 2
    assert stdout == ""
    assert "is in use by another running broker" in stderr


async def test_signal_caught_while_loading_stops_the_server_once_it_runs() -> None:
    server = foreground.load(BrokerConfig(port=0), bind_tcp("127.0.0.1", 0), None)
    with trio.fail_after(10):
        await foreground.serve(server, [signal.SIGTERM])
    assert server.stopped.is_set()


def test_the_broker_takes_over_the_cli_lock_on_the_data_directory(tmp_path: Path) -> None:
    directory = DataDirectory.open(tmp_path / "data")
    config = BrokerConfig(port=0, data_dir=str(tmp_path / "data"))
    sockets = bind_tcp("127.0.0.1", 0)
    server = foreground.load(config, sockets, directory)
    for sock in sockets:
        sock.close()
    assert server.broker.store is not None
    assert server.broker.store.directory is directory  # the same lock, never let go
    with pytest.raises(StoreError, match="in use"):
        DataDirectory.open(tmp_path / "data")
    server.broker.close()
    DataDirectory.open(tmp_path / "data").close()
