# Password hashes must be interchangeable with RabbitMQ's definitions exports.
from __future__ import annotations

import pytest

from amqp_broker.auth.passwords import (
    MD5,
    SHA256,
    SHA512,
    hash_password,
    is_valid_hash,
    verify_password,
)
from amqp_broker.config import GUEST_PASSWORD_HASH

# Exported by `rabbitmqctl export_definitions` from RabbitMQ 3.10.8 (users alice/secret, guest).
RABBITMQ_ALICE = "dt724EtgtnljKt5PZP3e5JjxLlsklLVyVTnJH0+1jONKQoU1"
RABBITMQ_GUEST = "eQzT5c/14L2A7zhCehVhUJbGIuAndOH76bM6iW13w1JF9Wsh"


def test_hashes_exported_by_rabbitmq_verify() -> None:
    assert verify_password("secret", RABBITMQ_ALICE)
    assert verify_password("guest", RABBITMQ_GUEST)
    assert not verify_password("Secret", RABBITMQ_ALICE)


def test_default_guest_hash_is_guest() -> None:
    assert verify_password("guest", GUEST_PASSWORD_HASH)


@pytest.mark.parametrize("algorithm", [SHA256, SHA512, MD5])
def test_hash_round_trips_and_is_salted(algorithm: str) -> None:
    first, second = hash_password("pw", algorithm), hash_password("pw", algorithm)
    assert first != second  # a fresh 4-byte salt each time
    assert verify_password("pw", first, algorithm)
    assert is_valid_hash(first, algorithm)
    assert not verify_password("pw2", first, algorithm)


def test_known_salt_gives_rabbitmq_layout() -> None:
    # base64(salt + sha256(salt + password)): 4 + 32 bytes, 48 base64 characters.
    value = hash_password("secret", SHA256, salt=b"\x76\xde\xf6\xe0")
    assert value == RABBITMQ_ALICE


@pytest.mark.parametrize("bad", ["", "not base64!", "AAAA", "w6k="])
def test_malformed_hash_verifies_nothing(bad: str) -> None:
    assert not verify_password("", bad)
    assert not verify_password("guest", bad)


def test_unknown_algorithm() -> None:
    with pytest.raises(ValueError, match="unknown password hashing algorithm"):
        hash_password("pw", "rabbit_password_hashing_rot13")
    assert not verify_password("pw", RABBITMQ_ALICE, "rabbit_password_hashing_rot13")
    assert not is_valid_hash(RABBITMQ_ALICE, SHA512)
