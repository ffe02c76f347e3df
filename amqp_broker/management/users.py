# Users and permissions over HTTP (administrators only), on the broker's user store: the same
# records AMQP logins and permission checks read.
#
# Rules kept here:
# - Passwords are hashed by the store; only RabbitMQ-format hashes go in and out, so users move
#   between this broker and RabbitMQ through definitions files.
# - tags may be given as RabbitMQ's comma-separated string or as a JSON list.
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from amqp_broker.auth import PermissionRecord, UserRecord, UserStore
from amqp_broker.management.auth import Caller
from amqp_broker.management.context import ManagementContext
from amqp_broker.management.errors import bad_request, not_found
from amqp_broker.management.routing import NoContent, api_route, json_object, param


def user_json(user: UserRecord) -> dict[str, Any]:
    return {
        "name": user.name,
        "password_hash": user.password_hash,
        "hashing_algorithm": user.hashing_algorithm,
        "tags": list(user.tags),
        "limits": {},
    }


def permission_json(record: PermissionRecord) -> dict[str, Any]:
    return {
        "user": record.user,
        "vhost": record.vhost,
        "configure": record.permissions.configure,
        "write": record.permissions.write,
        "read": record.permissions.read,
    }


def parse_tags(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(tag.strip() for tag in value.split(",") if tag.strip())
    if isinstance(value, list) and all(isinstance(tag, str) for tag in value):
        return tuple(value)
    raise bad_request("tags must be a comma-separated string or a list")


def put_user(store: UserStore, name: str, body: dict[str, Any]) -> None:
    """Create or update a user from a management API or definitions entry; 400 when invalid."""
    password = body.get("password")
    password_hash = body.get("password_hash")
    algorithm = body.get("hashing_algorithm") or "rabbit_password_hashing_sha256"
    for key, value in (("password", password), ("password_hash", password_hash)):
        if value is not None and not isinstance(value, str):
            raise bad_request(f"{key} must be a string")
    if password is not None:
        password_hash = None  # RabbitMQ: a password given wins over a hash
    try:
        store.put_user(
            name,
            password=password,
            password_hash=password_hash,
            hashing_algorithm=str(algorithm),
            tags=parse_tags(body.get("tags")),
        )
    except ValueError as error:
        raise bad_request(str(error)) from None


def set_permissions(store: UserStore, user: str, vhost: str, body: dict[str, Any]) -> None:
    regexes = []
    for key in ("configure", "write", "read"):
        value = body.get(key)
        if not isinstance(value, str):
            raise bad_request(f"[{{key_missing,{key}}}]")
        regexes.append(value)
    try:
        store.set_permissions(user, vhost, *regexes)
    except KeyError:
        raise bad_request("user_not_found") from None
    except ValueError as error:
        raise bad_request(str(error)) from None


def routes(context: ManagementContext) -> list[Route]:
    broker = context.broker
    store = broker.users

    def find_user(request: Request) -> UserRecord:
        user = store.user(param(request, "user"))
        if user is None:
            raise not_found()
        return user

    async def list_users(request: Request, caller: Caller) -> Any:
        return [user_json(user) for user in store.users()]

    async def get_user(request: Request, caller: Caller) -> Any:
        return user_json(find_user(request))

    async def put(request: Request, caller: Caller) -> Any:
        name = param(request, "user")
        created = store.user(name) is None
        put_user(store, name, await json_object(request))
        return NoContent(created=created)

    async def delete_user(request: Request, caller: Caller) -> Any:
        if not store.delete_user(param(request, "user")):
            raise not_found()
        return NoContent()

    async def bulk_delete(request: Request, caller: Caller) -> Any:
        """RabbitMQ deletes the named users in order and stops at the first it does not know
        (those before it stay deleted)."""
        body = await json_object(request)
        if "users" not in body:
            raise bad_request("[{key_missing,users}]")
        names = body["users"]
        if not isinstance(names, list):
            raise bad_request("users must be a list")
        for name in names:
            if not isinstance(name, str) or not store.delete_user(name):
                raise bad_request(["no_such_user", name])
        return NoContent()

    async def vhost_permissions(request: Request, caller: Caller) -> Any:
        vhost = param(request, "vhost")
        if vhost not in broker.vhosts:
            raise not_found()
        return [permission_json(p) for p in store.permissions() if p.vhost == vhost]

    async def user_permissions(request: Request, caller: Caller) -> Any:
        user = find_user(request)
        return [permission_json(p) for p in store.permissions() if p.user == user.name]

    async def list_permissions(request: Request, caller: Caller) -> Any:
        return [permission_json(record) for record in store.permissions()]

    def find_permission(request: Request) -> PermissionRecord:
        vhost, user = param(request, "vhost"), param(request, "user")
        for record in store.permissions():
            if record.vhost == vhost and record.user == user:
                return record
        raise not_found()

    async def get_permission(request: Request, caller: Caller) -> Any:
        return permission_json(find_permission(request))

    async def put_permission(request: Request, caller: Caller) -> Any:
        vhost, user = param(request, "vhost"), param(request, "user")
        if vhost not in broker.vhosts:
            raise bad_request("vhost_not_found")
        created = store.permissions_for(user, vhost) is None
        set_permissions(store, user, vhost, await json_object(request))
        return NoContent(created=created)

    async def delete_permission(request: Request, caller: Caller) -> Any:
        record = find_permission(request)
        store.clear_permissions(record.user, record.vhost)
        return NoContent()

    user = "/api/users/{user}"
    permission = "/api/permissions/{vhost}/{user}"
    return [
        api_route(context, "/api/users", list_users, administrator=True),
        api_route(context, "/api/users/bulk-delete", bulk_delete, ["POST"], administrator=True),
        api_route(context, user, get_user, administrator=True),
        api_route(context, user, put, ["PUT"], administrator=True),
        api_route(context, user, delete_user, ["DELETE"], administrator=True),
        api_route(context, user + "/permissions", user_permissions, administrator=True),
        api_route(context, "/api/permissions", list_permissions, administrator=True),
        api_route(
            context, "/api/vhosts/{vhost}/permissions", vhost_permissions, administrator=True
        ),
        api_route(context, permission, get_permission, administrator=True),
        api_route(context, permission, put_permission, ["PUT"], administrator=True),
        api_route(context, permission, delete_permission, ["DELETE"], administrator=True),
    ]
