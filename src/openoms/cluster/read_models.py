"""The cluster's read models: orders, executions and positions of every shard, as the projector
keeps them and the gateways read them. In one SQLite file in WAL mode (one writer, the
projector; readers: gateways on the same machine), or in PostgreSQL (``postgresql://...``,
gateways on any machine); the same SQL serves both (``ON CONFLICT ... DO UPDATE`` is common).

Each shard's events are kept too (``events``): they give an order's history, and they are what a
restarted projector rebuilds its per-shard engine replicas from. ``progress`` holds, per shard,
the last journal seq applied, and ``position`` the event stream's sequence of the last message
applied, both in the same transaction as the rows they produced: a restarted projector resumes
after ``position``, and a message delivered again is recognised by its seqs and skipped.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec
import psycopg

from ..journal.postgres import CONNECT_TIMEOUT_S, connect, is_postgres_url, redact

SCHEMA = """
CREATE TABLE IF NOT EXISTS progress (shard INTEGER PRIMARY KEY, seq BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS position (one INTEGER PRIMARY KEY CHECK (one = 0), stream_seq BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS events (shard INTEGER NOT NULL, seq BIGINT NOT NULL, data {blob} NOT NULL, PRIMARY KEY (shard, seq));
CREATE TABLE IF NOT EXISTS orders (order_id TEXT PRIMARY KEY, shard INTEGER NOT NULL, local_id TEXT NOT NULL,
                                   account TEXT NOT NULL, symbol TEXT NOT NULL, status TEXT NOT NULL, open INTEGER NOT NULL,
                                   created_ts BIGINT NOT NULL, seqs TEXT NOT NULL, view TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS orders_by_created ON orders (created_ts);
CREATE TABLE IF NOT EXISTS executions (shard INTEGER NOT NULL, exec_id TEXT NOT NULL, order_id TEXT NOT NULL,
                                       account TEXT NOT NULL, symbol TEXT NOT NULL, seq BIGINT NOT NULL, view TEXT NOT NULL,
                                       PRIMARY KEY (shard, exec_id));
CREATE TABLE IF NOT EXISTS positions (account TEXT NOT NULL, symbol TEXT NOT NULL, view TEXT NOT NULL,
                                      PRIMARY KEY (account, symbol));
"""

UPSERT_ORDER = ("INSERT INTO orders (order_id, shard, local_id, account, symbol, status, open, created_ts, seqs, view) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (order_id) DO UPDATE SET status = excluded.status, "
                "open = excluded.open, seqs = excluded.seqs, view = excluded.view")
UPSERT_EXECUTION = ("INSERT INTO executions (shard, exec_id, order_id, account, symbol, seq, view) VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (shard, exec_id) DO UPDATE SET view = excluded.view")
UPSERT_POSITION = ("INSERT INTO positions (account, symbol, view) VALUES (?, ?, ?) "
                   "ON CONFLICT (account, symbol) DO UPDATE SET view = excluded.view")
UPSERT_PROGRESS = "INSERT INTO progress (shard, seq) VALUES (?, ?) ON CONFLICT (shard) DO UPDATE SET seq = excluded.seq"
UPSERT_POSITION_SEQ = ("INSERT INTO position (one, stream_seq) VALUES (0, ?) "
                       "ON CONFLICT (one) DO UPDATE SET stream_seq = excluded.stream_seq")

_json = msgspec.json.Encoder(decimal_format="string")


class ReadModelError(RuntimeError):
    pass


class ReadModelsUnavailable(ReadModelError):
    """The read models' PostgreSQL server cannot be reached now (restart, failover, network): the
    gateway answers 503 with this reason, and reconnects on the next read."""


class ReadModels:
    def __init__(self, location: Path | str, readonly: bool = False) -> None:
        """``location``: a SQLite file, or a ``postgresql://`` URL (a schema by its search_path)."""
        self.postgres = isinstance(location, str) and is_postgres_url(location)
        self.path = redact(str(location)) if self.postgres else str(location)
        self._sqlite: sqlite3.Connection | None = None
        self._pg: psycopg.Connection[tuple[Any, ...]] | None = None
        self._url = str(location)
        try:
            if self.postgres:
                self._pg = self._connect()
                self._pg.execute(SCHEMA.format(blob="BYTEA"))  # idempotent; a reader may start first
                return
            path = Path(location)
            if readonly:
                if not path.exists():  # a gateway may start before the projector has made the file
                    ReadModels(path).close()
                self._sqlite = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._sqlite = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
                self._sqlite.execute("PRAGMA journal_mode=WAL")
                self._sqlite.execute("PRAGMA synchronous=NORMAL")  # a lost tail is read again from the stream
                self._sqlite.executescript(SCHEMA.format(blob="BLOB"))
        except (sqlite3.Error, psycopg.Error) as exc:
            raise ReadModelError(f"read models at {self.path}: {str(exc).strip().splitlines()[0]}") from None

    def close(self) -> None:
        if self._pg is not None:
            self._pg.close()
        if self._sqlite is not None:
            self._sqlite.close()

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        return connect(self._url, application_name="openoms-read-models", connect_timeout=CONNECT_TIMEOUT_S)

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self._pg is not None:
            return self._pg_rows(sql.replace("?", "%s"), args)
        assert self._sqlite is not None
        return self._sqlite.execute(sql, args).fetchall()

    def _pg_rows(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        """A read; a connection the server dropped (restart, failover, a terminated session) is
        replaced and the read tried once more (reads are idempotent). A server that cannot be
        reached raises ReadModelsUnavailable; any other database error propagates as it is."""
        assert self._pg is not None
        try:
            return self._pg.execute(sql, args).fetchall()  # type: ignore[arg-type]
        except psycopg.OperationalError as exc:
            if not (self._pg.broken or self._pg.closed):
                raise
            lost = exc
        with contextlib.suppress(psycopg.Error):
            self._pg.close()
        try:
            self._pg = self._connect()
            return self._pg.execute(sql, args).fetchall()  # type: ignore[arg-type]
        except psycopg.OperationalError as exc:
            raise ReadModelsUnavailable(f"read models at {self.path} unavailable: {_first_line(exc)} "
                                        f"(after: {_first_line(lost)})") from None

    # --- the projector's side ---------------------------------------------------------------

    def progress(self) -> dict[int, int]:
        return {int(shard): int(seq) for shard, seq in self._rows("SELECT shard, seq FROM progress")}

    def position(self) -> int:
        rows = self._rows("SELECT stream_seq FROM position")
        return int(rows[0][0]) if rows else 0

    def events(self, shard: int) -> Iterator[bytes]:
        for (data,) in self._rows("SELECT data FROM events WHERE shard = ? ORDER BY seq", (shard,)):
            yield bytes(data)

    def write(self, stream_seq: int, shard: int, last_seq: int, events: Iterable[tuple[int, bytes]],
              orders: Iterable[dict[str, Any]], executions: Iterable[dict[str, Any]], positions: Iterable[dict[str, Any]]) -> None:
        """One message's effect, all or nothing, with the shard's new progress."""
        batches: list[tuple[str, list[tuple[Any, ...]]]] = [
            ("INSERT INTO events (shard, seq, data) VALUES (?, ?, ?)", [(shard, seq, data) for seq, data in events]),
            (UPSERT_ORDER, [(o["view"]["order_id"], shard, o["local_id"], o["view"]["account"], o["view"]["symbol"],
                             o["view"]["status"], int(o["open"]), o["created_ts"], _json.encode(o["seqs"]).decode(),
                             _json.encode(o["view"]).decode()) for o in orders]),
            (UPSERT_EXECUTION, [(shard, x["exec_id"], x["order_id"], x["account"], x["symbol"], x["seq"], _json.encode(x).decode())
                                for x in executions]),
            (UPSERT_POSITION, [(p["account"], p["symbol"], _json.encode(p).decode()) for p in positions]),
            (UPSERT_PROGRESS, [(shard, last_seq)]),
            (UPSERT_POSITION_SEQ, [(stream_seq,)]),
        ]
        if self._pg is not None:
            with self._pg.transaction(), self._pg.cursor() as cursor:
                for sql, rows in batches:
                    if rows:
                        cursor.executemany(sql.replace("?", "%s"), rows)  # type: ignore[arg-type]
            return
        db = self._sqlite
        assert db is not None
        db.execute("BEGIN IMMEDIATE")
        try:
            for sql, rows in batches:
                db.executemany(sql, rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # --- the gateway's side -----------------------------------------------------------------

    def order(self, order_id: str) -> tuple[dict[str, Any], int, list[int]] | None:
        rows = self._rows("SELECT view, shard, seqs FROM orders WHERE order_id = ?", (order_id,))
        if not rows:
            return None
        view, shard, seqs = rows[0]
        return msgspec.json.decode(view), int(shard), msgspec.json.decode(seqs)

    def order_account(self, order_id: str) -> str | None:
        rows = self._rows("SELECT account FROM orders WHERE order_id = ?", (order_id,))
        return str(rows[0][0]) if rows else None

    def orders(self, *, status: str | None = None, account: str | None = None, symbol: str | None = None,
               since_ns: int | None = None, until_ns: int | None = None, open_only: bool = False,
               visible: frozenset[str] | None = None, limit: int = 500) -> list[dict[str, Any]]:
        where, args = _filters(account=account, symbol=symbol, visible=visible)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if open_only:
            where.append("open = 1")
        if since_ns is not None:
            where.append("created_ts >= ?")
            args.append(since_ns)
        if until_ns is not None:
            where.append("created_ts < ?")
            args.append(until_ns)
        sql = "SELECT view FROM orders" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self._rows(sql + " ORDER BY created_ts DESC, order_id DESC LIMIT ?", (*args, limit))
        return [msgspec.json.decode(view) for (view,) in rows]

    def executions(self, *, account: str | None = None, symbol: str | None = None, order_id: str | None = None,
                   visible: frozenset[str] | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        where, args = _filters(account=account, symbol=symbol, visible=visible)
        if order_id is not None:
            where.append("order_id = ?")
            args.append(order_id)
        sql = "SELECT view FROM executions" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self._rows(sql + " ORDER BY seq DESC, shard LIMIT ?", (*args, limit))
        return [msgspec.json.decode(view) for (view,) in rows]

    def positions(self, *, account: str | None = None, symbol: str | None = None,
                  visible: frozenset[str] | None = None) -> list[dict[str, Any]]:
        where, args = _filters(account=account, symbol=symbol, visible=visible)
        sql = "SELECT view FROM positions" + (" WHERE " + " AND ".join(where) if where else "")
        return [msgspec.json.decode(view) for (view,) in self._rows(sql + " ORDER BY account, symbol", args)]

    def order_events(self, shard: int, seqs: list[int]) -> list[bytes]:
        if not seqs:
            return []
        marks = ",".join("?" * len(seqs))
        rows = self._rows(f"SELECT data FROM events WHERE shard = ? AND seq IN ({marks}) ORDER BY seq", (shard, *seqs))
        return [bytes(data) for (data,) in rows]


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _filters(*, account: str | None, symbol: str | None, visible: frozenset[str] | None) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    if account is not None:
        where.append("account = ?")
        args.append(account)
    if symbol is not None:
        where.append("symbol = ?")
        args.append(symbol)
    if visible is not None:
        where.append(f"account IN ({','.join('?' * len(visible))})" if visible else "1 = 0")
        args.extend(sorted(visible))
    return where, args
