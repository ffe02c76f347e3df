# Frozen broker settings. Defaults match what RabbitMQ 3.10 offers a client, so code tested here
# meets the same limits in production.
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from amqp_broker.version import RABBITMQ_VERSION


@dataclass(frozen=True, slots=True)
class User:
    """A user as configured: never a plain password, only RabbitMQ's salted hash of one
    (amqp_broker.auth.hash_password makes one; RabbitMQ's definitions exports carry them)."""

    name: str
    password_hash: str
    tags: tuple[str, ...] = ()
    # RabbitMQ's loopback_users: guest may only log in from the local machine.
    loopback_only: bool = False
    hashing_algorithm: str = "rabbit_password_hashing_sha256"


@dataclass(frozen=True, slots=True)
class UserPermission:
    """RabbitMQ's per-vhost permissions: regexes over the names of queues and exchanges."""

    user: str
    vhost: str
    configure: str = ".*"
    write: str = ".*"
    read: str = ".*"


# The salted SHA-256 hash of "guest" (any salt does; this one is fixed so configs compare equal).
GUEST_PASSWORD_HASH = "s0B+7LwL9Bvcm5cWHU96BMizlNv0I/7R3kGMNFa9pHiEwQDI"
DEFAULT_USERS = (User("guest", GUEST_PASSWORD_HASH, ("administrator",), loopback_only=True),)
DEFAULT_PERMISSIONS = (UserPermission("guest", "/"),)


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    host: str = "127.0.0.1"
    port: int = 5672
    users: tuple[User, ...] = DEFAULT_USERS
    vhosts: tuple[str, ...] = ("/",)
    permissions: tuple[UserPermission, ...] = DEFAULT_PERMISSIONS
    # Gets full permissions on every vhost the broker creates (config.vhosts, Broker.add_vhost)
    # where it has none yet, so embedded brokers and per-test vhosts work as guest. None gives
    # RabbitMQ's strict behaviour: only the permissions listed are granted.
    default_user: str | None = "guest"
    # Limits against clients that misbehave or attack (docs/security.md; 0 means no limit).
    max_connections: int = 4096  # per broker; more are closed at accept
    max_connections_per_user: int = 0  # 530 at connection.open
    # Sockets still in the handshake at once; above it the oldest is dropped, so idle sockets
    # cannot lock real clients out (each is also dropped at handshake_timeout).
    max_unauthenticated: int = 1024
    max_message_size: int = 128 * 1024 * 1024  # RabbitMQ's default; 406 at the content header
    # Field tables in one frame: nesting depth (1 to 128) and decoding cost in bytes (0: no
    # limit); 501 FRAME_ERROR beyond them. RabbitMQ has neither limit.
    max_table_depth: int = 64
    max_table_decode_cost: int = 32 * 1024 * 1024
    max_queues_per_vhost: int = 100_000  # 406 on queue.declare
    max_exchanges_per_vhost: int = 10_000  # 406 on exchange.declare, predeclared ones included
    # The amqps listener (TLS), opened when tls_certfile is set (docs/security.md).
    tls_port: int = 5671
    tls_certfile: str | None = None
    tls_keyfile: str | None = None  # None: the key is in tls_certfile
    tls_cafile: str | None = None  # CAs that client certificates must chain to
    tls_verify_peer: bool = False  # ask clients for a certificate; offers EXTERNAL (CN = user)
    tls_fail_if_no_peer_cert: bool = False  # refuse TLS clients without a certificate
    # What the broker calls itself in connection.start's server properties and in the management
    # API: RabbitMQ's own defaults (RabbitMQ's product_name/product_version settings change them
    # the same way), since clients and their test suites look for "RabbitMQ" there. The
    # `information` property names this broker whatever these say.
    product_name: str = "RabbitMQ"
    product_version: str = RABBITMQ_VERSION
    channel_max: int = 2047
    frame_max: int = 131072
    heartbeat: int = 60
    handshake_timeout: float = 10.0
    # A consumer's connection with more unsent bytes than this gets no new deliveries until its
    # writer catches up, so a slow reader cannot make the broker buffer without bound.
    consumer_output_high_water: int = 1024 * 1024
    # Bytes of message bodies held in queues above which publishers are blocked (RabbitMQ's
    # memory alarm; connection.blocked is sent to clients that support it).
    memory_high_watermark: int = 512 * 1024 * 1024
    # How long to wait for Close-Ok after the server sent Connection.Close.
    close_timeout: float = 3.0
    # The management HTTP API (RabbitMQ's paths) and /metrics: off unless a port is given (0 picks
    # a free one). It listens on loopback unless told otherwise.
    management_port: int | None = None
    management_host: str = "127.0.0.1"
    # Where durable definitions and persistent messages live (docs/durability.md). None keeps
    # everything in memory: the embedding API and the pytest fixtures leave nothing behind.
    data_dir: str | None = None
    # "always": confirms wait for fsync (survives power loss). "never": data is written but not
    # fsynced (survives a crash of the broker process, not of the machine); for fast tests.
    fsync: Literal["always", "never"] = "always"
