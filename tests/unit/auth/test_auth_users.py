# The user store: RabbitMQ's permission-regex semantics and the API the management side uses.
from __future__ import annotations

import pytest

from amqp_broker.auth import Access, Resource, UserStore
from amqp_broker.errors import AMQPError, ReplyCode


@pytest.fixture
def store() -> UserStore:
    users = UserStore()
    users.put_user("alice", password="secret", tags=["management"])
    return users


def test_authenticate_checks_the_password(store: UserStore) -> None:
    assert store.authenticate("alice", "secret", peer_is_loopback=False)
    assert not store.authenticate("alice", "wrong", peer_is_loopback=True)
    assert not store.authenticate("nobody", "secret", peer_is_loopback=True)


def test_loopback_only_user_is_refused_from_elsewhere(store: UserStore) -> None:
    store.put_user("guest", password="guest", loopback_only=True)
    assert store.authenticate("guest", "guest", peer_is_loopback=True)
    assert not store.authenticate("guest", "guest", peer_is_loopback=False)


def test_no_plain_text_is_kept(store: UserStore) -> None:
    record = store.user("alice")
    assert record is not None
    assert "secret" not in repr(record)
    assert record.tags == ("management",)


def test_put_user_without_secret_keeps_the_hash(store: UserStore) -> None:
    before = store.user("alice")
    store.put_user("alice", tags=["administrator"])
    after = store.user("alice")
    assert before is not None and after is not None
    assert after.password_hash == before.password_hash
    assert after.tags == ("administrator",)


def test_user_without_hash_cannot_log_in() -> None:
    users = UserStore()
    users.put_user("svc")
    assert not users.authenticate("svc", "", peer_is_loopback=True)


@pytest.mark.parametrize(
    "kwargs",
    [{"password": "a", "password_hash": ""}, {"password_hash": "bad hash"}],
)
def test_put_user_refuses_bad_secrets(store: UserStore, kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        store.put_user("eve", **kwargs)  # type: ignore[arg-type]
    assert store.user("eve") is None


def test_delete_user_drops_its_permissions(store: UserStore) -> None:
    store.set_permissions("alice", "/")
    assert store.delete_user("alice")
    assert not store.delete_user("alice")
    assert store.permissions() == []
    assert not store.may_open("alice", "/")


def test_permissions_need_a_known_user_and_valid_regexes(store: UserStore) -> None:
    with pytest.raises(KeyError):
        store.set_permissions("nobody", "/")
    with pytest.raises(ValueError, match="invalid permission regex"):
        store.set_permissions("alice", "/", "(", ".*", ".*")
    assert store.permissions_for("alice", "/") is None


def _allowed(store: UserStore, access: Access, resource: Resource, name: str) -> bool:
    try:
        store.check("alice", "/", access, resource, name)
    except AMQPError as error:
        assert error.code is ReplyCode.ACCESS_REFUSED
        return False
    return True


def test_regex_is_searched_not_anchored(store: UserStore) -> None:
    store.set_permissions("alice", "/", "app", "^w", "r$")
    assert _allowed(store, Access.CONFIGURE, Resource.QUEUE, "my-app-queue")
    assert not _allowed(store, Access.WRITE, Resource.EXCHANGE, "xw")
    assert _allowed(store, Access.WRITE, Resource.EXCHANGE, "wx")
    assert _allowed(store, Access.READ, Resource.QUEUE, "bar")


def test_empty_regex_grants_nothing_but_the_empty_name(store: UserStore) -> None:
    store.set_permissions("alice", "/", "", "", "")
    assert not _allowed(store, Access.CONFIGURE, Resource.QUEUE, "q")
    assert _allowed(store, Access.CONFIGURE, Resource.QUEUE, "")
    # The default exchange is checked as 'amq.default', so '' does not grant publishing to it.
    assert not _allowed(store, Access.WRITE, Resource.EXCHANGE, "")


def test_refusal_text_names_the_resource(store: UserStore) -> None:
    store.set_permissions("alice", "v", "^c", "^w", "^r")
    with pytest.raises(AMQPError) as info:
        store.check("alice", "v", Access.WRITE, Resource.EXCHANGE, "")
    assert info.value.text == (
        "ACCESS_REFUSED - access to exchange 'amq.default' in vhost 'v' refused for user 'alice'"
    )


def test_clear_vhost_and_clear_permissions(store: UserStore) -> None:
    store.set_permissions("alice", "a")
    store.set_permissions("alice", "b")
    assert store.clear_permissions("alice", "a")
    assert not store.clear_permissions("alice", "a")
    store.clear_vhost("b")
    assert store.permissions() == []


def test_every_permission_change_moves_the_generation() -> None:
    """Channels drop their cached permission checks when it moves."""
    store = UserStore()
    store.put_user("u", password="p")
    seen = {store.generation}
    for change in (
        lambda: store.set_permissions("u", "/", ".*", ".*", ".*"),
        lambda: store.set_permissions("u", "/", ".*", "^w", ".*"),
        lambda: store.clear_permissions("u", "/"),
        lambda: store.set_permissions("u", "v", ".*", ".*", ".*"),
        lambda: store.clear_vhost("v"),
        lambda: store.delete_user("u"),
    ):
        change()
        assert store.generation not in seen
        seen.add(store.generation)
    assert UserStore().generation not in seen  # a new store never reuses a number
