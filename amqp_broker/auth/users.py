# The user store: users with password hashes and tags, and their per-vhost permissions.
#
# Rules kept here:
# - Only hashes are kept (passwords.py); a plain password given to put_user is hashed at once.
# - Every change is a plain synchronous call, so the AMQP side, the config file loader and the
#   management API share one store without locks (all run on the broker's thread).
# - A user without a permission entry for a vhost may not open it (530 at connection.open);
#   with one, each operation is checked against the regexes (403 on the channel).
from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from amqp_broker.auth.passwords import DEFAULT_ALGORITHM, hash_password, is_valid_hash
from amqp_broker.auth.passwords import verify_password as _verify
from amqp_broker.auth.permissions import Access, Permissions, Resource, refused, resource_name

# Numbers every permission change, in every store, so a cached answer names the state it came from.
_generations = itertools.count(1)

KNOWN_TAGS = ("administrator", "monitoring", "policymaker", "management", "impersonator")


@dataclass(frozen=True, slots=True)
class UserRecord:
    name: str
    password_hash: str
    hashing_algorithm: str = DEFAULT_ALGORITHM
    tags: tuple[str, ...] = ()
    # RabbitMQ's loopback_users: this user may only log in from the local machine.
    loopback_only: bool = False


@dataclass(frozen=True, slots=True)
class PermissionRecord:
    user: str
    vhost: str
    permissions: Permissions


class UserStore:
    """Users, password hashes, tags and per-vhost permissions."""

    def __init__(self) -> None:
        self._users: dict[str, UserRecord] = {}
        # user -> vhost -> permissions
        self._permissions: dict[str, dict[str, Permissions]] = {}
        # Changes with every permission change: channels cache what check() allowed (the write
        # permission of each publish) and drop the cache when this moves.
        self.generation = next(_generations)

    # ---- users -------------------------------------------------------------------------------

    def put_user(
        self,
        name: str,
        *,
        password: str | None = None,
        password_hash: str | None = None,
        hashing_algorithm: str = DEFAULT_ALGORITHM,
        tags: Iterable[str] = (),
        loopback_only: bool | None = None,
    ) -> UserRecord:
        """Create or replace a user; give a password (hashed here) or a ready hash, not both.

        With neither, the user keeps its current hash (or gets none: it cannot log in with a
        password, as in RabbitMQ). loopback_only None keeps the current setting. Raises
        ValueError for an empty name, both secrets at once, or a malformed hash.
        """
        if not name:
            raise ValueError("a user needs a name")
        if password is not None and password_hash is not None:
            raise ValueError("give a password or a password_hash, not both")
        existing = self._users.get(name)
        if password is not None:
            password_hash = hash_password(password, hashing_algorithm)
        elif password_hash is None:
            password_hash = existing.password_hash if existing else ""
            if existing is not None:
                hashing_algorithm = existing.hashing_algorithm
        if not is_valid_hash(password_hash, hashing_algorithm):
            raise ValueError(f"malformed password_hash for {hashing_algorithm}")
        if loopback_only is None:
            loopback_only = existing.loopback_only if existing else False
        record = UserRecord(name, password_hash, hashing_algorithm, tuple(tags), loopback_only)
        self._users[name] = record
        return record

    def delete_user(self, name: str) -> bool:
        """Remove a user and all its permissions; False if there was no such user."""
        self._permissions.pop(name, None)
        self.generation = next(_generations)
        return self._users.pop(name, None) is not None

    def user(self, name: str) -> UserRecord | None:
        return self._users.get(name)

    def users(self) -> list[UserRecord]:
        return sorted(self._users.values(), key=lambda user: user.name)

    def authenticate(self, username: str, password: str, peer_is_loopback: bool) -> bool:
        user = self._users.get(username)
        if user is None or not _verify(password, user.password_hash, user.hashing_algorithm):
            return False
        return peer_is_loopback or not user.loopback_only

    def authenticate_external(self, username: str, peer_is_loopback: bool) -> bool:
        """A certificate already proved the identity: the user need only exist (and may be
        loopback-only), as with RabbitMQ's EXTERNAL mechanism."""
        user = self._users.get(username)
        return user is not None and (peer_is_loopback or not user.loopback_only)

    # ---- permissions -------------------------------------------------------------------------

    def set_permissions(
        self,
        user: str,
        vhost: str,
        configure: str = ".*",
        write: str = ".*",
        read: str = ".*",
    ) -> PermissionRecord:
        """Raises KeyError for an unknown user, ValueError for a regex that does not compile."""
        if user not in self._users:
            raise KeyError(user)
        permissions = Permissions(configure, write, read)
        self._permissions.setdefault(user, {})[vhost] = permissions
        self.generation = next(_generations)
        return PermissionRecord(user, vhost, permissions)

    def clear_permissions(self, user: str, vhost: str) -> bool:
        per_vhost = self._permissions.get(user)
        self.generation = next(_generations)
        return per_vhost is not None and per_vhost.pop(vhost, None) is not None

    def clear_vhost(self, vhost: str) -> None:
        """A deleted vhost takes every permission on it along."""
        self.generation = next(_generations)
        for per_vhost in self._permissions.values():
            per_vhost.pop(vhost, None)

    def permissions_for(self, user: str, vhost: str) -> Permissions | None:
        return self._permissions.get(user, {}).get(vhost)

    def permissions(self) -> list[PermissionRecord]:
        return [
            PermissionRecord(user, vhost, permissions)
            for user, per_vhost in sorted(self._permissions.items())
            for vhost, permissions in sorted(per_vhost.items())
        ]

    def may_open(self, user: str, vhost: str) -> bool:
        return self.permissions_for(user, vhost) is not None

    def check(self, user: str, vhost: str, access: Access, resource: Resource, name: str) -> None:
        """Raise AMQPError(403) unless `user` has `access` to the named resource in `vhost`."""
        permissions = self.permissions_for(user, vhost)
        shown = resource_name(resource, name)
        if permissions is None or not permissions.allows(access, shown):
            raise refused(resource, shown, vhost, user)
