# Authentication and authorisation: password hashes (RabbitMQ's format), the user store, and
# RabbitMQ's configure / write / read permission regexes. Standard library and errors only.
from amqp_broker.auth.passwords import hash_password, verify_password
from amqp_broker.auth.permissions import Access, Permissions, Resource
from amqp_broker.auth.users import PermissionRecord, UserRecord, UserStore

__all__ = [
    "Access",
    "PermissionRecord",
    "Permissions",
    "Resource",
    "UserRecord",
    "UserStore",
    "hash_password",
    "verify_password",
]
