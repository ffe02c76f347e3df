# Password hashes in RabbitMQ's format, so `password_hash` values move between a RabbitMQ
# definitions export and this broker in both directions.
#
# Rules kept here:
# - A hash is base64(salt + digest) with a 4-byte random salt and digest = H(salt + password),
#   exactly rabbit_password_hashing_sha256 / _sha512 (and the legacy _md5, for imports only).
# - Plain-text passwords are never stored: callers hash before keeping anything.
# - Comparison is constant-time; a malformed hash verifies nothing and raises nothing.
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

SHA256 = "rabbit_password_hashing_sha256"
SHA512 = "rabbit_password_hashing_sha512"
MD5 = "rabbit_password_hashing_md5"
DEFAULT_ALGORITHM = SHA256
SALT_SIZE = 4

_DIGESTS = {SHA256: "sha256", SHA512: "sha512", MD5: "md5"}


def hash_password(
    password: str, algorithm: str = DEFAULT_ALGORITHM, *, salt: bytes | None = None
) -> str:
    """A salted hash of `password`; raises ValueError for an unknown algorithm."""
    digest_name = _digest_name(algorithm)
    salt = os.urandom(SALT_SIZE) if salt is None else salt
    digest = hashlib.new(digest_name, salt + password.encode("utf-8")).digest()
    return base64.b64encode(salt + digest).decode("ascii")


def verify_password(password: str, password_hash: str, algorithm: str = DEFAULT_ALGORITHM) -> bool:
    """Whether `password` matches; False (not an exception) for an empty or malformed hash."""
    if not password_hash or algorithm not in _DIGESTS:
        return False
    try:
        decoded = base64.b64decode(password_hash.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return False
    if len(decoded) <= SALT_SIZE:
        return False
    expected = hash_password(password, algorithm, salt=decoded[:SALT_SIZE])
    return hmac.compare_digest(expected.encode("ascii"), password_hash.encode("ascii"))


def is_valid_hash(password_hash: str, algorithm: str = DEFAULT_ALGORITHM) -> bool:
    """Well-formed for `algorithm`: base64 of a 4-byte salt and a digest of the right size.

    The empty string is valid too: RabbitMQ uses it for users that cannot log in with a password.
    """
    if password_hash == "":
        return True
    if algorithm not in _DIGESTS:
        return False
    try:
        decoded = base64.b64decode(password_hash.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return False
    return len(decoded) == SALT_SIZE + hashlib.new(_DIGESTS[algorithm]).digest_size


def _digest_name(algorithm: str) -> str:
    try:
        return _DIGESTS[algorithm]
    except KeyError:
        raise ValueError(f"unknown password hashing algorithm {algorithm!r}") from None
