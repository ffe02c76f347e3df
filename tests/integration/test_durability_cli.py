# The CLI's data directory: on disk by default, one-line errors (no traceback) when unusable.
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pika

from amqp_broker.store.directory import DataDirectory
from amqp_broker.testing import BrokerProcess


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "amqp_broker", "--port", "0", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_locked_data_dir_is_one_line_error(tmp_path: Path) -> None:
    holder = DataDirectory.open(tmp_path)
    try:
        result = run_cli("--data-dir", str(tmp_path))
    finally:
        holder.close()
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"amqp-broker: data directory {tmp_path} is in use by another running broker "
        f"(pid {os.getpid()})"
    ]


def test_incompatible_data_dir_is_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "format").write_text("trio-amqp-broker store 0\n")
    result = run_cli("--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "holds 'trio-amqp-broker store 0'" in result.stderr


def test_cli_keeps_state_in_the_per_user_data_dir_by_default(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "amqp_broker", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "listening on" in line
        assert (tmp_path / "trio-amqp-broker" / "format").exists()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_broker_process_restarts_on_its_data_dir(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "data")
    with BrokerProcess(data_dir=data_dir) as broker:
        connection = pika.BlockingConnection(pika.URLParameters(broker.url))
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare("kept", durable=True)
        channel.basic_publish("", "kept", b"hello", pika.BasicProperties(delivery_mode=2))
        connection.close()
    with BrokerProcess(data_dir=data_dir) as broker:
        connection = pika.BlockingConnection(pika.URLParameters(broker.url))
        method, _, body = connection.channel().basic_get("kept", auto_ack=True)
        connection.close()
    assert method is not None and body == b"hello"


def test_store_write_failure_stops_the_broker_with_one_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    process = subprocess.Popen(
        [sys.executable, "-m", "amqp_broker", "--port", "0", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split("listening on ")[1].strip()
        connection = pika.BlockingConnection(pika.URLParameters(url))
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare("doomed", durable=True)
        # the disk goes bad: the queue's directory can no longer be created
        (data_dir / "queues").rmdir()
        (data_dir / "queues").write_text("in the way")
        try:
            channel.basic_publish("", "doomed", b"x", pika.BasicProperties(delivery_mode=2))
        except pika.exceptions.AMQPError:
            pass  # the broker went away without confirming: correct
        else:
            raise AssertionError("a message the store could not write was confirmed")
        assert process.wait(timeout=30) == 2
        assert process.stderr is not None
        stderr = process.stderr.read()
        assert "Traceback" not in stderr
        errors = [line for line in stderr.splitlines() if line.startswith("amqp-broker:")]
        reason = "Not a directory"
        assert errors == [f"amqp-broker: cannot write to data directory {data_dir}: {reason}"]
    finally:
        process.kill()
        process.wait()


def test_config_file_sets_the_data_dir_and_a_bad_fsync_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "from-config"
    config = tmp_path / "broker.toml"
    config.write_text(f'data_dir = "{data_dir}"\nfsync = "sometimes"\n')
    result = run_cli("--config", str(config))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "amqp-broker: fsync must be 'always' or 'never', not 'sometimes'"
    ]
    config.write_text(f'data_dir = "{data_dir}"\nfsync = "never"\n')
    process = subprocess.Popen(
        [sys.executable, "-m", "amqp_broker", "--port", "0", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert "listening on" in process.stdout.readline()
        assert (data_dir / "format").exists()
    finally:
        process.terminate()
        process.wait(timeout=10)
