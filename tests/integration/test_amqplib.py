# node's amqplib against the broker: direct reply-to the way amqplib users write RPC clients.
# The script (interop/node/direct_reply_to.js) passes unchanged against RabbitMQ 3.10.8 too.
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from interop.clients import NODE_DIR, install_node_client


@pytest.fixture(scope="module")
def node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    problem = install_node_client()
    if problem is not None:
        pytest.skip(f"amqplib is not installed: {problem}")
    return node


def test_amqplib_rpc_over_direct_reply_to_and_misuse_errors(node: str, amqp_url: str) -> None:
    done = subprocess.run(
        [node, str(NODE_DIR / "direct_reply_to.js")],
        env={**os.environ, "AMQP_URL": amqp_url},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr
