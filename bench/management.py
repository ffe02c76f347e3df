# Management API cost: requests per second for the calls monitoring tools poll, a /metrics scrape
# with many queues, and what importing the HTTP stack adds to start-up (it is imported only when
# --management-port is given). The requirement checked by eye: polling the API stays far cheaper
# than the AMQP traffic it watches, and a scrape of 1,000 queues takes milliseconds.
#
#   .venv/bin/python bench/management.py [--queues N] [--requests N]
from __future__ import annotations

import argparse
import base64
import http.client
import subprocess
import sys
import time

from amqp_broker.config import BrokerConfig
from amqp_broker.testing import BrokerThread

AUTH = {"Authorization": "Basic " + base64.b64encode(b"guest:guest").decode()}


def per_second(connection: http.client.HTTPConnection, path: str, count: int) -> float:
    """Sequential requests on one keep-alive connection, as a poller makes them."""
    started = time.perf_counter()
    for _ in range(count):
        connection.request("GET", path, headers=AUTH)
        response = connection.getresponse()
        response.read()
        assert response.status == 200, (path, response.status)
    return count / (time.perf_counter() - started)


def import_cost() -> float:
    """Seconds `import amqp_broker.management` adds after the broker's own modules."""
    code = (
        "import time, amqp_broker.server; t = time.perf_counter(); "
        "import amqp_broker.management; print(time.perf_counter() - t)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queues", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    with BrokerThread(BrokerConfig(port=0, management_port=0)) as broker:
        assert broker.management_url is not None
        host, port = broker.management_url.removeprefix("http://").rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        for path in ("/api/whoami", "/api/overview", "/api/queues", "/metrics"):
            rate = per_second(connection, path, args.requests)
            print(f"GET {path:<16} {rate:8.0f} req/s   (0 queues)")
        for i in range(args.queues):
            connection.request("PUT", f"/api/queues/%2F/q{i}", body=b"{}", headers=AUTH)
            connection.getresponse().read()
        for path in ("/api/overview", "/api/queues", "/metrics", "/metrics/per-object"):
            rate = per_second(connection, path, max(10, args.requests // 10))
            print(f"GET {path:<20} {rate:8.1f} req/s   ({args.queues} queues)")
        connection.close()
    print(f"import amqp_broker.management: {import_cost() * 1000:.0f} ms")


if __name__ == "__main__":
    main()
