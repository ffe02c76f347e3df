# `python -m amqp_broker.auth`: print RabbitMQ's salted SHA-256 hash of a password read from the
# terminal (or one line of stdin), for the password_hash of a user in the config file.
from __future__ import annotations

import getpass
import sys

from amqp_broker.auth.passwords import hash_password


def main() -> int:
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    print(hash_password(password))
    return 0


if __name__ == "__main__":
    sys.exit(main())
