# The pytest plugin's fixtures under pytest-xdist: a tiny test file run with `-n 2` in a
# subprocess, as a user's suite would be. Each worker gets its own broker on its own port, and
# each test its own vhost, so same-named queues never meet.
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

USER_TESTS = """
import os
import pathlib

import pika
import pytest


@pytest.mark.parametrize("n", range(4))
def test_same_queue_name_in_every_test(amqp_broker, amqp_url, n):
    with pika.BlockingConnection(pika.URLParameters(amqp_url)) as connection:
        channel = connection.channel()
        channel.queue_declare("jobs")
        channel.basic_publish("", "jobs", b"mine")
        assert channel.queue_declare("jobs", passive=True).method.message_count == 1
    worker = os.environ.get("PYTEST_XDIST_WORKER", "none")
    record = pathlib.Path(os.environ["RECORD_DIR"]) / f"{worker}-{n}"
    record.write_text(f"{worker} {os.getpid()} {amqp_broker.port} {amqp_url}")
"""


def test_fixtures_under_xdist_give_each_worker_its_own_broker(tmp_path: Path) -> None:
    (tmp_path / "test_user_suite.py").write_text(USER_TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    records = tmp_path / "records"
    records.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider", "."],
        cwd=tmp_path,
        env={**os.environ, "RECORD_DIR": str(records)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout
    seen = [path.read_text().split() for path in records.iterdir()]
    assert len(seen) == 4
    workers = {worker for worker, _pid, _port, _url in seen}
    assert workers == {"gw0", "gw1"}
    # One broker per worker process: same port within a worker, different across workers.
    ports = {worker: {port for w, _pid, port, _url in seen if w == worker} for worker in workers}
    assert all(len(found) == 1 for found in ports.values())
    assert ports["gw0"] != ports["gw1"]
    assert len({url for *_, url in seen}) == 4  # a fresh vhost for every test
