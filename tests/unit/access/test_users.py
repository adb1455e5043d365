"""The user store, on SQLite (users.sqlite) and on PostgreSQL (the journal's database): what is
kept (hashes, never secrets), who may sign in, changes seen by other connections (other gateway
processes), and the policy table."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest

from openoms.access.policy import PERMISSIONS, Action, Principal, Role, engine_roles
from openoms.access.users import UserError, UserStore, UserStoreUnavailable
from stores import Store


@pytest.fixture
def users(store: Store) -> UserStore:
    return store.users()


TABLES = ("users", "api_keys", "sessions", "user_changes", "access_denials")


def raw(store: Store, users: UserStore) -> bytes:
    """Everything the store keeps: the SQLite files' bytes, or every row of every user table."""
    users.close()
    if not store.url:
        return b"".join(p.read_bytes() for p in store.data_dir.glob("users.sqlite*"))
    with psycopg.connect(store.url) as conn:
        return "".join(repr(conn.execute(f"SELECT * FROM {table}").fetchall()) for table in TABLES).encode()


def stored_password_hash(store: Store) -> str:
    if store.url:
        with psycopg.connect(store.url) as conn:
            row = conn.execute("SELECT password_hash FROM users").fetchone()
    else:
        with sqlite3.connect(store.data_dir / "users.sqlite") as db:
            row = db.execute("SELECT password_hash FROM users").fetchone()
    assert row is not None
    return str(row[0])


def test_passwords_and_keys_are_stored_only_as_hashes(store: Store, users: UserStore) -> None:
    users.create_admin("root", "a very secret passphrase")
    key = users.issue_api_key("root", "backoffice", actor="test")
    token, _ = users.login("root", "a very secret passphrase") or ("", 0)
    assert stored_password_hash(store).startswith("$argon2id$")
    contents = raw(store, users)
    for secret in ("a very secret passphrase", key.split("_", 2)[2], token):
        assert secret.encode() not in contents


def test_the_admin_has_every_role_and_account(users: UserStore) -> None:
    admin = users.create_admin("root", "a very secret passphrase")
    assert admin.roles == {Role.ADMINISTRATOR} and admin.accounts == {"*"}
    assert engine_roles(admin.roles) == {r.value for r in Role}


@pytest.mark.parametrize("password", ["", "short", "elevenchars"])
def test_a_weak_password_is_refused(users: UserStore, password: str) -> None:
    with pytest.raises(UserError, match="12 characters"):
        users.create_admin("root", password)
    assert users.get("root") is None  # nothing half-made


@pytest.mark.parametrize("name", ["", "a b", "x" * 65, "system", "engine", "ünï/code"])
def test_bad_or_reserved_user_names_are_refused(users: UserStore, name: str) -> None:
    with pytest.raises(UserError):
        users.create(name, ["trader"])


def test_unknown_roles_and_no_roles_are_refused(users: UserStore) -> None:
    with pytest.raises(UserError, match="unknown role 'boss'"):
        users.create("carol", ["boss"])
    with pytest.raises(UserError, match="at least one role"):
        users.create("carol", [])


def test_a_disabled_user_cannot_sign_in_and_loses_sessions_and_keys(users: UserStore) -> None:
    users.create("carol", ["trader"], ["ACC-EQ-1"], password="carol password 1")
    token, _ = users.login("carol", "carol password 1") or ("", 0)
    key = users.issue_api_key("carol", "box", actor="test")
    users.update("carol", "test", disabled=True)
    assert users.login("carol", "carol password 1") is None
    assert users.authenticate(token) is None and users.authenticate(key) is None
    users.update("carol", "test", disabled=False)
    assert users.authenticate(key) is not None  # keys come back with the user; sessions do not
    assert users.authenticate(token) is None


def test_a_new_password_ends_sessions(users: UserStore) -> None:
    users.create("carol", ["trader"], password="carol password 1")
    token, _ = users.login("carol", "carol password 1") or ("", 0)
    users.set_password("carol", "carol password 2", actor="test")
    assert users.authenticate(token) is None
    assert users.login("carol", "carol password 1") is None and users.login("carol", "carol password 2") is not None


def test_a_revoked_or_forged_key_is_refused(users: UserStore) -> None:
    users.create("algo", ["trader"], ["ACC-EQ-1"])
    key = users.issue_api_key("algo", "box", actor="test")
    key_id = key.split("_")[1]
    assert users.authenticate(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    users.revoke_api_key(key_id, actor="test")
    assert users.authenticate(key) is None
    with pytest.raises(UserError):
        users.revoke_api_key("nope", actor="test")


def test_every_change_names_who_made_it(users: UserStore) -> None:
    users.create("carol", ["trader"], actor="root")
    users.update("carol", "root", roles=["read_only"])
    users.issue_api_key("carol", "box", actor="root")
    assert [(c["actor"], c["action"]) for c in users.changes()][::-1] == [("root", "create"), ("root", "update"), ("root", "api_key")]


def test_a_user_with_no_password_cannot_sign_in_with_one(users: UserStore) -> None:
    users.create("algo", ["trader"])
    assert users.login("algo", "") is None and users.login("algo", "anything at all") is None


def test_every_action_has_roles_and_the_administrator_holds_them_all() -> None:
    assert set(PERMISSIONS) == set(Action)
    admin = Principal("root", frozenset({Role.ADMINISTRATOR}), frozenset({"*"}))
    assert all(admin.may(action) for action in Action)
    reader = Principal("r", frozenset({Role.READ_ONLY}), frozenset({"ACC-EQ-1"}))
    assert [a for a in Action if reader.may(a)] == [Action.READ]
    assert reader.visible() == {"ACC-EQ-1"} and not reader.trades("ACC-EQ-1")


def test_a_change_made_by_another_process_is_seen_at_once(store: Store, users: UserStore) -> None:
    """Each gateway caches authenticated callers by ``version()``: a revocation made through another
    connection (`oms users`, another gateway) must move it."""
    users.create("algo", ["trader"], ["ACC-EQ-1"])
    key = users.issue_api_key("algo", "box", actor="test")
    before = users.version()
    other = store.users()
    other.revoke_api_key(key.split("_")[1], actor="other gateway")
    assert users.version() != before
    assert users.authenticate(key) is None
    users.record_denial("algo", "trade", "ACC-EQ-2")  # a refusal logged is not a change of who may do what
    after = users.version()
    assert users.version() == after and users.denials()[0]["target"] == "ACC-EQ-2"
    other.close()


def test_the_postgresql_store_survives_its_connection_being_cut(pg_url: str) -> None:
    users = UserStore(pg_url)
    users.create("carol", ["trader"], ["ACC-EQ-1"], password="carol password 1")
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE application_name = 'openoms-users' AND datname = current_database() AND pid <> pg_backend_pid()")
    with pytest.raises(UserStoreUnavailable):  # the request that found it cut is refused (503), not crashed
        users.get("carol")
    assert users.login("carol", "carol password 1") is not None  # the next one connects again
