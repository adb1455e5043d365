"""One journal store under test, SQLite or PostgreSQL, and what tests do to it from outside:
read the durable rows over a separate connection, and tamper with them (as an attacker or a
broken disk would) to show the hash chain names the damage."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openoms.access.users import UserStore
from openoms.config import Config
from openoms.journal.postgres import PostgresJournal, PostgresReader
from openoms.journal.sqlite import SqliteJournal

PG_ADMIN_URL = os.environ.get("OMS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def with_search_path(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


@dataclass(frozen=True)
class Store:
    backend: str  # "sqlite" | "postgresql"
    data_dir: Path
    url: str = ""  # the PostgreSQL URL (with its own schema); empty for SQLite

    @property
    def path(self) -> Path:
        return self.data_dir / "journal.sqlite"

    def config(self, **settings: Any) -> Config:
        return Config(data_dir=self.data_dir, database_url=self.url, **settings)

    def users(self, session_ttl_seconds: int = 8 * 3600) -> UserStore:
        """The installation's user store, as the server and `oms users` open it."""
        return UserStore(self.url or self.data_dir / "users.sqlite", session_ttl_seconds=session_ttl_seconds)

    def env(self) -> dict[str, str]:
        """Environment for `oms` subprocesses that take no --database-url (e.g. the README walk-through)."""
        return {"OMS_DATA_DIR": str(self.data_dir), **({"OMS_DATABASE_URL": self.url} if self.url else {})}

    def journal(self, durability: str = "group") -> SqliteJournal | PostgresJournal:
        if self.url:
            return PostgresJournal(self.url, durability=durability)
        return SqliteJournal(self.path, durability=durability)

    def journal_args(self) -> list[str]:
        """How `oms audit order|...`, `oms export` and `oms posttrade` are pointed at this journal."""
        return ["--database-url", self.url] if self.url else ["--journal", str(self.path)]

    def reader(self) -> SqliteJournal | PostgresReader:
        """The journal opened read-only, as `oms audit` and `oms export` open it."""
        return PostgresReader(self.url) if self.url else SqliteJournal(self.path, readonly=True)

    def cli_args(self) -> list[str]:
        """How `oms serve` / `oms audit verify` are pointed at this store."""
        return ["--data-dir", str(self.data_dir), *(["--database-url", self.url] if self.url else [])]

    # --- from outside the journal ---------------------------------------------------------------

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """One statement on a separate connection. On PostgreSQL the append-only trigger is
        bypassed (session_replication_role=replica, as a superuser could) so tampering works."""
        if self.url:
            import psycopg

            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute("SET session_replication_role = replica")
                cursor = conn.execute(sql.replace("?", "%s"), params)
                return cursor.fetchall() if cursor.description else []
        with sqlite3.connect(self.path) as conn:
            rows = conn.execute(sql, params).fetchall()
        conn.close()
        return rows

    def rows(self) -> list[tuple[int, bytes]]:
        """(seq, payload) of every durable record."""
        return [(int(seq), bytes(payload)) for seq, payload in self._run("SELECT seq, payload FROM events ORDER BY seq")]

    def payload(self, seq: int) -> bytes:
        return bytes(self._run("SELECT payload FROM events WHERE seq = ?", (seq,))[0][0])

    def set_payload(self, seq: int, payload: bytes) -> None:
        self._run("UPDATE events SET payload = ? WHERE seq = ?", (payload, seq))

    def set_hash(self, seq: int, digest: bytes) -> None:
        self._run("UPDATE events SET hash = ? WHERE seq = ?", (digest, seq))

    def delete(self, seq: int) -> None:
        self._run("DELETE FROM events WHERE seq = ?", (seq,))
