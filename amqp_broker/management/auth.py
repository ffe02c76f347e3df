# HTTP basic auth for the management API, against the broker's own users.
#
# Rules kept here:
# - Credentials are checked by Broker.authenticate, the same call AMQP logins make, so the
#   management API follows whatever the user store does (hashes, loopback-only users).
# - As in RabbitMQ, the API needs the `management` tag (or one that implies it: monitoring,
#   policymaker, administrator); users, permissions and definitions need `administrator`.
# - A failed login is 401 {"error": "not_authorized", "reason": "Login failed"} with a
#   WWW-Authenticate challenge, so browsers and curl know to send credentials.
from __future__ import annotations

import base64
import binascii
import ipaddress
from dataclasses import dataclass

from amqp_broker.auth import Access, Resource
from amqp_broker.broker import Broker
from amqp_broker.management.errors import ApiError, login_failed, not_authorised

MANAGEMENT_TAGS = frozenset({"management", "monitoring", "policymaker", "administrator"})
CHALLENGE = 'Basic realm="RabbitMQ Management"'


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated user behind a request."""

    name: str
    tags: tuple[str, ...]

    @property
    def is_administrator(self) -> bool:
        return "administrator" in self.tags

    def check(
        self, broker: Broker, vhost: str, access: Access, resource: Resource, name: str
    ) -> None:
        """The caller's configure/write/read permission on a resource, checked as for an AMQP
        client of this user (RabbitMQ's API acts as the user): raises AMQPError(403), which the
        API answers with 401 "Access refused."."""
        broker.users.check(self.name, vhost, access, resource, name)


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.split("%", maxsplit=1)[0]).is_loopback
    except ValueError:
        return False


def _credentials(header: str | None) -> tuple[str, str]:
    if not header:
        raise ApiError(401, "", "")  # no body: RabbitMQ sends a bare challenge
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise login_failed()
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise login_failed() from None
    username, sep, password = decoded.partition(":")
    if not sep:
        raise login_failed()
    return username, password


def authenticate(
    broker: Broker, header: str | None, client_host: str | None, *, administrator: bool
) -> Caller:
    """The caller named by an Authorization header; raises ApiError (401) when the login fails
    or the user lacks the tag the resource needs."""
    username, password = _credentials(header)
    if not broker.authenticate(username, password, _is_loopback(client_host)):
        raise login_failed()
    user = broker.users.user(username)
    caller = Caller(username, user.tags if user is not None else ())
    if not MANAGEMENT_TAGS.intersection(caller.tags):
        raise not_authorised("Not management user")
    if administrator and not caller.is_administrator:
        raise not_authorised("Not administrator user")
    return caller
