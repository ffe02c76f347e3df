# The TOML configuration file: what it accepts, and that every mistake names its key.
from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from amqp_broker.auth.passwords import hash_password
from amqp_broker.config import BrokerConfig, User, UserPermission
from amqp_broker.config_file import ConfigError, load_config, parse_config

ALICE_HASH = "dt724EtgtnljKt5PZP3e5JjxLlsklLVyVTnJH0+1jONKQoU1"  # "secret", from RabbitMQ 3.10.8
DOCS = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def _parse(text: str) -> BrokerConfig:
    return parse_config(tomllib.loads(text))


def test_full_file(tmp_path: Path) -> None:
    path = tmp_path / "broker.toml"
    path.write_text(
        f"""
        host = "0.0.0.0"
        port = 5673
        vhosts = ["/", "prod"]
        default_user = "alice"

        [limits]
        max_connections = 100
        handshake_timeout = 5

        [tls]
        port = 5674
        certfile = "/etc/broker/cert.pem"
        verify_peer = true

        [[users]]
        name = "alice"
        password_hash = "{ALICE_HASH}"
        tags = ["administrator"]

        [[permissions]]
        user = "alice"
        vhost = "prod"
        configure = "^alice-"
        """
    )
    config = load_config(path)
    assert (config.host, config.port, config.vhosts) == ("0.0.0.0", 5673, ("/", "prod"))
    assert config.max_connections == 100
    assert config.handshake_timeout == 5.0
    assert (config.tls_port, config.tls_certfile, config.tls_verify_peer) == (
        5674,
        "/etc/broker/cert.pem",
        True,
    )
    assert config.users == (User("alice", ALICE_HASH, ("administrator",)),)
    assert config.permissions == (UserPermission("alice", "prod", configure="^alice-"),)
    assert config.default_user == "alice"


def test_listing_permissions_turns_off_the_default_user_grant() -> None:
    config = _parse(
        f"""
        [[users]]
        name = "alice"
        password_hash = "{ALICE_HASH}"
        [[permissions]]
        user = "alice"
        vhost = "/"
        """
    )
    assert config.default_user is None


def test_an_empty_file_is_the_default_config() -> None:
    assert _parse("") == BrokerConfig()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour = 'blue'", "unknown setting 'colour'"),
        ("[limits]\nmax_widgets = 1", "unknown setting 'limits.max_widgets'"),
        ("[tls]\nverify = true", "unknown setting 'tls.verify'"),
        ("port = '5672'", "'port' has the wrong type"),
        ("max_connections = -1", "'max_connections' has the wrong type or is negative"),
        ("[tls]\nverify_peer = 1", "'tls.verify_peer' has the wrong type"),
        ("vhosts = '/'", "'vhosts' must be a list of strings"),
        ("[[users]]\nname = 'a'\npassword = 'pw'", "unknown key 'password' in users[0] (give"),
        ("[[users]]\npassword_hash = ''", "users[0] needs 'name'"),
        ("[[users]]\nname = 'a'\npassword_hash = 'abc'", "users[0]: password_hash is not a"),
        (
            "[[users]]\nname = 'a'\npassword_hash = ''\n[[permissions]]\nuser = 'a'\n"
            "vhost = '/'\nread = '('",
            "permissions[0].read: invalid permission regex",
        ),
        ("[[permissions]]\nuser = 'bob'\nvhost = '/'", "permissions name unknown user 'bob'"),
        ("[[permissions]]\nuser = 'guest'\nvhost = 'x'", "permissions name unknown vhost 'x'"),
    ],
)
def test_mistakes_name_their_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        _parse(text)


def test_unreadable_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("port = ")
    with pytest.raises(ConfigError, match=re.escape("bad.toml")):
        load_config(path)


def test_the_example_in_docs_security_md_is_valid() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", DOCS.read_text(), re.DOTALL)
    assert blocks, "docs/security.md shows an example configuration"
    for block in blocks:
        config: Any = _parse(block)
        assert isinstance(config, BrokerConfig)


def test_a_hash_made_by_the_helper_is_accepted() -> None:
    config = _parse(f"[[users]]\nname = 'a'\npassword_hash = '{hash_password('pw')}'")
    assert config.users[0].name == "a"
