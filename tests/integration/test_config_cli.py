# `amqp-broker --config FILE` in a real subprocess: the file's users replace guest.
from __future__ import annotations

import subprocess
import sys
import urllib.parse
from pathlib import Path

import pika
import pika.exceptions
import pytest

from amqp_broker.testing import BrokerProcess

ALICE_HASH = "dt724EtgtnljKt5PZP3e5JjxLlsklLVyVTnJH0+1jONKQoU1"  # "secret", from RabbitMQ 3.10.8


def _url(url: str, user: str, password: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"amqp://{user}:{password}@{parts.hostname}:{parts.port}/"


def test_config_file_users_and_permissions_apply(tmp_path: Path) -> None:
    path = tmp_path / "broker.toml"
    path.write_text(
        f"""
        [[users]]
        name = "alice"
        password_hash = "{ALICE_HASH}"
        [[permissions]]
        user = "alice"
        vhost = "/"
        configure = "^alice"
        """
    )
    with BrokerProcess("--config", str(path)) as broker:
        parameters = pika.URLParameters(_url(broker.url, "alice", "secret"))
        with pika.BlockingConnection(parameters) as connection:
            channel = connection.channel()
            channel.queue_declare("alice-q")
            with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
                channel.queue_declare("bob-q")
            assert info.value.reply_code == 403
        with pytest.raises(pika.exceptions.ProbableAuthenticationError):
            pika.BlockingConnection(pika.URLParameters(_url(broker.url, "guest", "guest")))


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[[users]]\nname = 'a'\npassword = 'plain'\n", "unknown key 'password' in users[0]"),
        ("[limits]\nmax_table_depth = 0\n", "max_table_depth must be between 1 and 128"),
    ],
)
def test_bad_config_file_exits_2_naming_the_key(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "broker.toml"
    path.write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "amqp_broker", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert error in result.stderr
