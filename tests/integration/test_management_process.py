# The `amqp-broker` command with --management-port: the API comes up beside the AMQP listener,
# answers, reports the memory alarm, and stops with the broker on SIGTERM.
from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading

from amqp_broker.config import BrokerConfig
from amqp_broker.testing import BrokerThread
from tests.integration.management_http import Http


def test_command_serves_the_api_and_stops_on_sigterm() -> None:
    command = [
        sys.executable,
        "-m",
        "amqp_broker",
        "--port",
        "0",
        "--in-memory",
        "--management-port",
        "0",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    timer = threading.Timer(20, process.kill)
    timer.start()
    try:
        assert process.stdout is not None
        url = None
        for line in process.stdout:
            found = re.search(r"management API on (http://\S+)/api/", line)
            if found:
                url = found.group(1)
                break
        assert url is not None
        overview = Http(url).get("/api/overview").body
        assert overview["object_totals"]["connections"] == 0
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        timer.cancel()
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_alarm_health_check_fails_while_publishers_are_blocked() -> None:
    config = BrokerConfig(port=0, management_port=0, memory_high_watermark=10)
    with BrokerThread(config) as broker:
        assert broker.management_url is not None
        http = Http(broker.management_url)
        assert http.get("/api/health/checks/alarms").body == {"status": "ok"}
        http.put("/api/queues/%2F/big")
        message = {
            "routing_key": "big",
            "properties": {},
            "payload": "x" * 100,
            "payload_encoding": "string",
        }
        assert http.post("/api/exchanges/%2F/amq.default/publish", message).body == {"routed": True}
        alarm = http.get("/api/health/checks/alarms")
        assert (alarm.status, alarm.body["status"]) == (503, "failed")
        assert http.get("/api/nodes").body[0]["mem_alarm"] is True
        assert http.delete("/api/queues/%2F/big/contents").status == 204
        assert http.get("/api/health/checks/alarms").body == {"status": "ok"}
