# RabbitMQ's permission model: per user and vhost, three regular expressions (configure, write,
# read) over resource names.
#
# Rules kept here (rabbit_auth_backend_internal, measured on RabbitMQ 3.10.8):
# - A regex is searched in the name, not anchored: "^a" must be written to anchor it.
# - The empty regex grants nothing: it is read as "^$", which matches only the empty name.
# - The default exchange is checked under the name "amq.default".
from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from amqp_broker.errors import AMQPError, ReplyCode


class Access(enum.Enum):
    CONFIGURE = "configure"
    WRITE = "write"
    READ = "read"


class Resource(enum.Enum):
    QUEUE = "queue"
    EXCHANGE = "exchange"


DEFAULT_EXCHANGE_RESOURCE = "amq.default"
FULL_ACCESS = ".*"


def compile_permission(pattern: str) -> re.Pattern[str]:
    """The regex for one permission; raises ValueError if it does not compile."""
    try:
        return re.compile(pattern or "^$")
    except re.error as exc:
        raise ValueError(f"invalid permission regex {pattern!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Permissions:
    """One user's permissions in one vhost, with the regexes compiled once."""

    configure: str = FULL_ACCESS
    write: str = FULL_ACCESS
    read: str = FULL_ACCESS
    _compiled: dict[Access, re.Pattern[str]] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        compiled = {
            Access.CONFIGURE: compile_permission(self.configure),
            Access.WRITE: compile_permission(self.write),
            Access.READ: compile_permission(self.read),
        }
        object.__setattr__(self, "_compiled", compiled)

    def allows(self, access: Access, name: str) -> bool:
        return self._compiled[access].search(name) is not None


def refused(resource: Resource, name: str, vhost: str, user: str) -> AMQPError:
    """RabbitMQ's 403 text: it names the resource, not the permission that was missing."""
    return AMQPError(
        ReplyCode.ACCESS_REFUSED,
        f"access to {resource.value} '{name}' in vhost '{vhost}' refused for user '{user}'",
    )


def resource_name(resource: Resource, name: str) -> str:
    """The name a permission regex is matched against."""
    if resource is Resource.EXCHANGE and name == "":
        return DEFAULT_EXCHANGE_RESOURCE
    return name
