"""The user store: people and systems, their roles and account entitlements, passwords, API keys
and sessions: in a small SQLite file beside the journal (``<data_dir>/users.sqlite``), or, when
the journal is in PostgreSQL (``database_url``), in the same database and schema (tables from
the Alembic migration 0002), so several gateway processes share one user store.

Why not the journal: credentials must be revocable and rotatable, and a hash-chained journal
that regulators receive whole is no place for password hashes; and ``oms users create-admin``
must work whether or not the server runs (SQLite lets both open the file; a database is shared
anyway). Every change to a user is kept in the append-only ``user_changes`` table (who, when,
what), and every trading action is journaled by the engine with the authenticated user as its
actor.

Passwords are hashed with argon2id (argon2-cffi). API keys and session tokens are 256-bit
random secrets, so one SHA-256 is enough to store them safely (a slow hash protects guessable
secrets; these are not guessable) and lets every request be checked in microseconds.
"""

from __future__ import annotations

import builtins
import hashlib
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .policy import ALL_ACCOUNTS, Role, parse_roles

if TYPE_CHECKING:
    from ..config import Config

MIN_PASSWORD_LENGTH = 12
NEVER = 2**63 - 1
_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY, display_name TEXT NOT NULL, roles TEXT NOT NULL, accounts TEXT NOT NULL,
    desks TEXT NOT NULL, password_hash TEXT, disabled INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY, username TEXT NOT NULL, name TEXT NOT NULL, secret_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY, username TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS user_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    username TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS access_denials (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, username TEXT NOT NULL, action TEXT NOT NULL,
    target TEXT NOT NULL
);
"""


class UserError(ValueError):
    """A user-management request that cannot be done (unknown user, weak password...)."""


@dataclass(frozen=True, slots=True)
class User:
    username: str
    display_name: str
    roles: frozenset[Role]
    accounts: frozenset[str]
    desks: frozenset[str]
    disabled: bool
    has_password: bool

    def as_dict(self) -> dict[str, object]:
        return {"username": self.username, "display_name": self.display_name, "roles": sorted(self.roles),
                "accounts": sorted(self.accounts), "desks": sorted(self.desks), "disabled": self.disabled,
                "has_password": self.has_password}


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _split(text: str) -> frozenset[str]:
    return frozenset(part for part in text.split(",") if part)


def _roles(names: Iterable[str]) -> frozenset[Role]:
    try:
        return parse_roles(names)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def check_username(username: str) -> str:
    name = username.strip()
    if not name or len(name) > 64 or not all(c.isalnum() or c in "._-@" for c in name):
        raise UserError(f"invalid username {username!r}: 1-64 letters, digits or . _ - @")
    if name in ("system", "engine", "scheduler"):
        raise UserError(f"{name!r} is reserved for the engine's own actions")
    return name


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


class _SqliteDb:
    """users.sqlite: one connection (the store's lock serializes it)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a commit survives the process dying (not the machine losing power) and costs no
        # fsync, so a flood of refused requests (each one logged here) cannot stall the server.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SQLITE_SCHEMA)

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.IntegrityError as exc:
            raise _Duplicate(str(exc)) from None

    def data_version(self) -> int:
        """Moves when another connection changed the file (SQLite's own counter)."""
        (version,) = self._db.execute("PRAGMA data_version").fetchone()
        return int(version)

    def close(self) -> None:
        self._db.close()


class _PostgresDb:
    """The user tables in PostgreSQL, one autocommit connection, opened again if the server dropped it."""

    def __init__(self, url: str) -> None:
        from ..journal.postgres import upgrade  # psycopg is imported only when it is used

        upgrade(url)  # the schema (journal and users) at the newest migration
        self.url = url
        self._conn: Any = None
        self._connect()

    def _connect(self) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed or self._conn.broken:
            try:
                self._conn = psycopg.connect(self.url, autocommit=True, application_name="openoms-users")
            except psycopg.Error as exc:
                raise UserStoreUnavailable(f"user store unavailable: {_first_line(exc)}") from None
        return self._conn

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        try:
            cursor = self._connect().execute(sql.replace("?", "%s"), tuple(params))
            return cursor.fetchall() if cursor.description else []
        except psycopg.errors.UniqueViolation as exc:
            raise _Duplicate(_first_line(exc)) from None
        except psycopg.Error as exc:
            raise UserStoreUnavailable(f"user store unavailable: {_first_line(exc)}") from None

    def data_version(self) -> int:
        """Moves when any process changed a user, key or session (a trigger counts them)."""
        return int(self.run("SELECT n FROM users_version")[0][0])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class _Duplicate(Exception):
    """A primary key that already exists (either backend)."""


class UserStoreUnavailable(RuntimeError):
    """The user store's database cannot be reached (PostgreSQL down): callers answer 503."""


def open_user_store(config: Config) -> UserStore:
    """The user store of an installation: PostgreSQL when the journal is there, else users.sqlite."""
    location: Path | str = config.database_url or config.data_dir / "users.sqlite"
    return UserStore(location, session_ttl_seconds=config.session_ttl_minutes * 60)


class UserStore:
    def __init__(self, location: Path | str, session_ttl_seconds: int = 8 * 3600, clock: object = None) -> None:
        """``location``: the users.sqlite file, or a postgresql:// URL (the journal's database)."""
        self.path = location if isinstance(location, Path) else None
        self.session_ttl_seconds = session_ttl_seconds
        self._db: _SqliteDb | _PostgresDb = _SqliteDb(location) if isinstance(location, Path) else _PostgresDb(location)
        # Served from the event loop and, under TestClient, from its portal thread: one lock guards it.
        self._lock = threading.Lock()
        self._hasher = PasswordHasher()
        self._writes = 0  # changes made through this connection (SQLite's data_version counts the others')

    def version(self) -> tuple[int, int]:
        """Changes if any user, key or session changed, here or in another process (``oms users``):
        what a cache of authenticated callers is keyed on."""
        with self._lock:
            return self._db.data_version(), self._writes

    def close(self) -> None:
        self._db.close()

    def _run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._db.run(sql, params)

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self._db.run(sql, params)
        return rows[0] if rows else None

    # --- users --------------------------------------------------------------------------------

    def _row_to_user(self, row: tuple[str, str, str, str, str, str | None, int]) -> User:
        username, display, roles, accounts, desks, password_hash, disabled = row
        return User(username, display, parse_roles(_split(roles)), _split(accounts), _split(desks), bool(disabled),
                    password_hash is not None)

    def get(self, username: str) -> User | None:
        with self._lock:
            row = self._one("SELECT username, display_name, roles, accounts, desks, password_hash, disabled "
                            "FROM users WHERE username = ?", (username,))
        return self._row_to_user(row) if row else None

    def all(self) -> list[User]:
        with self._lock:
            rows = self._run("SELECT username, display_name, roles, accounts, desks, password_hash, disabled "
                             "FROM users ORDER BY username")
        return [self._row_to_user(row) for row in rows]

    def create(self, username: str, roles: Iterable[str], accounts: Iterable[str] = (), desks: Iterable[str] = (),
               password: str | None = None, display_name: str = "", actor: str = "cli") -> User:
        name = check_username(username)
        role_set = _roles(roles)
        if not role_set:
            raise UserError("a user needs at least one role")
        if password is not None:
            check_password(password)
        password_hash = self._hasher.hash(password) if password is not None else None
        account_text = ",".join(sorted({a.strip() for a in accounts if a.strip()}))
        desk_text = ",".join(sorted({d.strip() for d in desks if d.strip()}))
        with self._lock:
            try:
                self._run("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
                          (name, display_name or name, ",".join(sorted(role_set)), account_text, desk_text,
                           password_hash, time.time_ns()))
            except _Duplicate:
                raise UserError(f"user {name!r} already exists") from None
            self._changed(actor, "create", name, f"roles={','.join(sorted(role_set))} accounts={account_text} desks={desk_text}")
        user = self.get(name)
        assert user is not None
        return user

    def create_admin(self, username: str, password: str, actor: str = "cli") -> User:
        return self.create(username, [Role.ADMINISTRATOR], [ALL_ACCOUNTS], password=password,
                           display_name=f"{username} (administrator)", actor=actor)

    def update(self, username: str, actor: str, roles: Iterable[str] | None = None, accounts: Iterable[str] | None = None,
               desks: Iterable[str] | None = None, disabled: bool | None = None) -> User:
        user = self.require(username)
        role_set = _roles(roles) if roles is not None else user.roles
        if not role_set:
            raise UserError("a user needs at least one role")
        new_accounts = frozenset(a.strip() for a in accounts if a.strip()) if accounts is not None else user.accounts
        new_desks = frozenset(d.strip() for d in desks if d.strip()) if desks is not None else user.desks
        new_disabled = user.disabled if disabled is None else disabled
        with self._lock:
            self._run("UPDATE users SET roles = ?, accounts = ?, desks = ?, disabled = ? WHERE username = ?",
                      (",".join(sorted(role_set)), ",".join(sorted(new_accounts)), ",".join(sorted(new_desks)),
                       int(new_disabled), username))
            if new_disabled:
                self._run("DELETE FROM sessions WHERE username = ?", (username,))
            self._changed(actor, "update", username, f"roles={','.join(sorted(role_set))} accounts={','.join(sorted(new_accounts))} "
                          f"desks={','.join(sorted(new_desks))} disabled={new_disabled}")
        return self.require(username)

    def set_password(self, username: str, password: str, actor: str) -> None:
        self.require(username)
        check_password(password)
        password_hash = self._hasher.hash(password)
        with self._lock:
            self._run("UPDATE users SET password_hash = ? WHERE username = ?", (password_hash, username))
            self._run("DELETE FROM sessions WHERE username = ?", (username,))  # a new password ends old sessions
            self._changed(actor, "password", username, "password set")

    def require(self, username: str) -> User:
        user = self.get(username)
        if user is None:
            raise UserError(f"unknown user {username!r}")
        return user

    def _changed(self, actor: str, action: str, username: str, detail: str) -> None:
        self._writes += 1
        self._run("INSERT INTO user_changes (ts, actor, action, username, detail) VALUES (?, ?, ?, ?, ?)",
                  (time.time_ns(), actor, action, username, detail))

    def changes(self, limit: int = 1000) -> builtins.list[dict[str, object]]:
        with self._lock:
            rows = self._run("SELECT ts, actor, action, username, detail FROM user_changes ORDER BY id DESC LIMIT ?",
                             (limit,))
        return [{"ts": ts, "actor": actor, "action": action, "username": username, "detail": detail}
                for ts, actor, action, username, detail in rows]

    def record_denial(self, username: str, action: str, target: str) -> None:
        with self._lock:
            self._run("INSERT INTO access_denials (ts, username, action, target) VALUES (?, ?, ?, ?)",
                      (time.time_ns(), username, action, target))

    def denials(self, limit: int = 1000) -> builtins.list[dict[str, object]]:
        with self._lock:
            rows = self._run("SELECT ts, username, action, target FROM access_denials ORDER BY id DESC LIMIT ?",
                             (limit,))
        return [{"ts": ts, "username": username, "action": action, "target": target} for ts, username, action, target in rows]

    # --- credentials ------------------------------------------------------------------------

    def login(self, username: str, password: str) -> tuple[str, int] | None:
        """A new session token and its expiry (ns) for the right password; None otherwise (and
        the same answer for an unknown user, a wrong password or a disabled account)."""
        with self._lock:
            row = self._one("SELECT password_hash, disabled FROM users WHERE username = ?", (username,))
        if row is None or row[0] is None or row[1]:
            self._hasher.hash(password)  # the same work as a real check: no timing hint that the user exists
            return None
        try:
            self._hasher.verify(row[0], password)
        except (VerificationError, InvalidHashError):
            return None
        token = "oss_" + secrets.token_urlsafe(32)
        now = time.time_ns()
        expires = now + self.session_ttl_seconds * 1_000_000_000
        with self._lock:
            self._run("INSERT INTO sessions VALUES (?, ?, ?, ?)", (_digest(token), username, now, expires))
            self._run("DELETE FROM sessions WHERE expires_at <= ?", (now,))
        return token, expires

    def logout(self, token: str) -> None:
        with self._lock:
            self._run("DELETE FROM sessions WHERE token_hash = ?", (_digest(token),))
            self._writes += 1

    def issue_api_key(self, username: str, name: str, actor: str) -> str:
        """A new API key for a system acting as ``username``; shown once, stored hashed."""
        self.require(username)
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        with self._lock:
            self._run("INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, 0)", (key_id, username, name, _digest(secret), time.time_ns()))
            self._changed(actor, "api_key", username, f"issued key {key_id} ({name})")
        return f"oms_{key_id}_{secret}"

    def revoke_api_key(self, key_id: str, actor: str) -> None:
        with self._lock:
            row = self._one("SELECT username FROM api_keys WHERE key_id = ?", (key_id,))
            if row is None:
                raise UserError(f"unknown API key {key_id!r}")
            self._run("UPDATE api_keys SET revoked = 1 WHERE key_id = ?", (key_id,))
            self._changed(actor, "revoke_key", row[0], f"revoked key {key_id}")

    def api_keys(self, username: str | None = None) -> builtins.list[dict[str, object]]:
        with self._lock:
            if username is None:
                rows = self._run("SELECT key_id, username, name, created_at, revoked FROM api_keys ORDER BY created_at")
            else:
                rows = self._run("SELECT key_id, username, name, created_at, revoked FROM api_keys "
                                 "WHERE username = ? ORDER BY created_at", (username,))
        return [{"key_id": k, "username": u, "name": n, "created_at": c, "revoked": bool(r)} for k, u, n, c, r in rows]

    def authenticate(self, credential: str) -> tuple[User, str, int] | None:
        """The user a bearer credential (session token or API key) stands for, which it was, and
        until when it holds (ns; an API key until revoked)."""
        now = time.time_ns()
        with self._lock:
            if credential.startswith("oms_"):
                key_id, _, secret = credential[4:].partition("_")
                row = self._one("SELECT username, secret_hash FROM api_keys WHERE key_id = ? AND revoked = 0",
                                (key_id,))
                if row is None or not secrets.compare_digest(row[1], _digest(secret)):
                    return None
                username, via, expires = row[0], "api_key", NEVER
            else:
                row = self._one("SELECT username, expires_at FROM sessions WHERE token_hash = ? AND expires_at > ?",
                                (_digest(credential), now))
                if row is None:
                    return None
                username, via, expires = row[0], "session", int(row[1])
        user = self.get(username)
        if user is None or user.disabled:
            return None
        return user, via, expires
