# The broker's TOML configuration file (`amqp-broker --config FILE`; docs/security.md shows one).
#
# Rules kept here:
# - Every scalar key is a BrokerConfig field of the same name, at the top level or in the
#   [limits] table; [tls] keys are the tls_* fields without the prefix. Unknown keys and wrong
#   types are errors naming the key, never silently ignored.
# - Users carry password_hash only (RabbitMQ's format, so definitions exports can be pasted);
#   a plain-text password is refused: nothing secret is kept in clear at rest.
# - A file that lists [[permissions]] gets only those (default_user = none unless it says so).
from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from amqp_broker.auth.passwords import DEFAULT_ALGORITHM, is_valid_hash
from amqp_broker.auth.permissions import compile_permission
from amqp_broker.config import BrokerConfig, User, UserPermission

_STRUCTURED = ("users", "vhosts", "permissions")
_SCALARS = {
    field.name: field.default
    for field in dataclasses.fields(BrokerConfig)
    if field.name not in _STRUCTURED
}


class ConfigError(ValueError):
    """The file cannot be used; the message names the file's key that is wrong."""


def load_config(path: str | Path) -> BrokerConfig:
    """Read a TOML file; raises ConfigError (or OSError if it cannot be read)."""
    with open(path, "rb") as file:
        try:
            data = tomllib.load(file)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    return parse_config(data)


def parse_config(data: dict[str, Any]) -> BrokerConfig:
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "limits":
            for name, item in _table(key, value).items():
                values[name] = _scalar(f"limits.{name}", name, item)
        elif key == "tls":
            for name, item in _table(key, value).items():
                values[f"tls_{name}"] = _scalar(f"tls.{name}", f"tls_{name}", item)
        elif key == "vhosts":
            values["vhosts"] = tuple(_string_list(key, value))
        elif key == "users":
            values["users"] = tuple(_user(n, item) for n, item in enumerate(_tables(key, value)))
        elif key == "permissions":
            values["permissions"] = tuple(
                _permission(n, item) for n, item in enumerate(_tables(key, value))
            )
            values.setdefault("default_user", data.get("default_user"))
        else:
            values[key] = _scalar(key, key, value)
    if "users" in values and "permissions" not in values:
        # Replacing the users drops guest's default grant along with guest (unless listed).
        names = {user.name for user in values["users"]}
        values["permissions"] = tuple(p for p in BrokerConfig().permissions if p.user in names)
    config = BrokerConfig(**values)
    _check_references(config)
    return config


def _scalar(label: str, name: str, value: Any) -> Any:
    if name not in _SCALARS:
        raise ConfigError(f"unknown setting '{label}'")
    default = _SCALARS[name]
    if name == "default_user" and value == "":
        return None  # default_user = "" switches the convenience grant off
    if default is None or isinstance(default, str):
        ok = isinstance(value, str)
    elif isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if not ok:
        raise ConfigError(f"'{label}' has the wrong type or is negative: {value!r}")
    return value


def _table(key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"'{key}' must be a table")
    return value


def _tables(key: str, value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ConfigError(f"'{key}' must be an array of tables ([[{key}]])")
    return value


def _string_list(key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"'{key}' must be a list of strings")
    return value


def _fields(label: str, item: dict[str, Any], required: set[str], optional: set[str]) -> None:
    for name in item:
        if name not in required | optional:
            hint = " (give password_hash; see docs/security.md)" if name == "password" else ""
            raise ConfigError(f"unknown key '{name}' in {label}{hint}")
    for name in required:
        if not isinstance(item.get(name), str):
            raise ConfigError(f"{label} needs '{name}' (a string)")


def _user(number: int, item: dict[str, Any]) -> User:
    label = f"users[{number}]"
    _fields(label, item, {"name"}, {"password_hash", "hashing_algorithm", "tags", "loopback_only"})
    password_hash = item.get("password_hash", "")
    algorithm = item.get("hashing_algorithm", DEFAULT_ALGORITHM)
    if not isinstance(password_hash, str) or not isinstance(algorithm, str):
        raise ConfigError(f"{label}: password_hash and hashing_algorithm are strings")
    if not is_valid_hash(password_hash, algorithm):
        raise ConfigError(f"{label}: password_hash is not a {algorithm} hash")
    loopback_only = item.get("loopback_only", False)
    if not isinstance(loopback_only, bool):
        raise ConfigError(f"{label}: loopback_only must be true or false")
    tags = tuple(_string_list(f"{label}.tags", item.get("tags", [])))
    return User(item["name"], password_hash, tags, loopback_only, algorithm)


def _permission(number: int, item: dict[str, Any]) -> UserPermission:
    label = f"permissions[{number}]"
    _fields(label, item, {"user", "vhost"}, {"configure", "write", "read"})
    regexes = {}
    for name in ("configure", "write", "read"):
        pattern = item.get(name, ".*")
        if not isinstance(pattern, str):
            raise ConfigError(f"{label}.{name} must be a string")
        try:
            compile_permission(pattern)
        except ValueError as exc:
            raise ConfigError(f"{label}.{name}: {exc}") from None
        regexes[name] = pattern
    return UserPermission(item["user"], item["vhost"], **regexes)


def _check_references(config: BrokerConfig) -> None:
    users = {user.name for user in config.users}
    for grant in config.permissions:
        if grant.user not in users:
            raise ConfigError(f"permissions name unknown user '{grant.user}'")
        if grant.vhost not in config.vhosts:
            raise ConfigError(f"permissions name unknown vhost '{grant.vhost}'")
