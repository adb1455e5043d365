"""The cluster's read models: orders, executions and positions of every shard, as the projector
keeps them and the gateway reads them. One SQLite file in WAL mode (one writer, the projector;
any number of readers, the gateways on the same machine).

Each shard's events are kept too (``events``): they give an order's history, and they are what a
restarted projector rebuilds its per-shard engine replicas from. ``progress`` holds, per shard,
the last journal seq applied, and ``position`` the event stream's sequence of the last message
applied, both in the same transaction as the rows they produced: a restarted projector resumes
after ``position``, and a message delivered again is recognised by its seqs and skipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec

SCHEMA = """
CREATE TABLE IF NOT EXISTS progress (shard INTEGER PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS position (one INTEGER PRIMARY KEY CHECK (one = 0), stream_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (shard INTEGER NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL,
                                   PRIMARY KEY (shard, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS orders (order_id TEXT PRIMARY KEY, shard INTEGER NOT NULL, local_id TEXT NOT NULL,
                                   account TEXT NOT NULL, symbol TEXT NOT NULL, status TEXT NOT NULL, open INTEGER NOT NULL,
                                   created_ts INTEGER NOT NULL, seqs BLOB NOT NULL, view BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS orders_by_created ON orders (created_ts);
CREATE TABLE IF NOT EXISTS executions (shard INTEGER NOT NULL, exec_id TEXT NOT NULL, order_id TEXT NOT NULL,
                                       account TEXT NOT NULL, symbol TEXT NOT NULL, seq INTEGER NOT NULL, view BLOB NOT NULL,
                                       PRIMARY KEY (shard, exec_id));
CREATE TABLE IF NOT EXISTS positions (account TEXT NOT NULL, symbol TEXT NOT NULL, view BLOB NOT NULL,
                                      PRIMARY KEY (account, symbol));
"""

_json = msgspec.json.Encoder(decimal_format="string")


class ReadModelError(RuntimeError):
    pass


class ReadModels:
    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = path
        try:
            if readonly:
                # A gateway may start before the projector has made the file: it is created empty.
                if not path.exists():
                    ReadModels(path).close()
                self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")  # a lost tail is re-read from the stream
                self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise ReadModelError(f"read models at {path}: {exc}") from None

    def close(self) -> None:
        self._db.close()

    # --- the projector's side ---------------------------------------------------------------

    def progress(self) -> dict[int, int]:
        return dict(self._db.execute("SELECT shard, seq FROM progress").fetchall())

    def position(self) -> int:
        row = self._db.execute("SELECT stream_seq FROM position").fetchone()
        return 0 if row is None else int(row[0])

    def events(self, shard: int) -> Iterator[bytes]:
        for (data,) in self._db.execute("SELECT data FROM events WHERE shard = ? ORDER BY seq", (shard,)):
            yield bytes(data)

    def write(self, stream_seq: int, shard: int, last_seq: int, events: Iterable[tuple[int, bytes]], orders: Iterable[dict[str, Any]],
              executions: Iterable[dict[str, Any]], positions: Iterable[dict[str, Any]]) -> None:
        """One message's effect, all or nothing, with the shard's new progress."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT INTO events (shard, seq, data) VALUES (?, ?, ?)", [(shard, seq, data) for seq, data in events])
            db.executemany(
                "INSERT OR REPLACE INTO orders (order_id, shard, local_id, account, symbol, status, open, created_ts, seqs, view) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(o["view"]["order_id"], shard, o["local_id"], o["view"]["account"], o["view"]["symbol"], o["view"]["status"],
                  int(o["open"]), o["created_ts"], _json.encode(o["seqs"]), _json.encode(o["view"])) for o in orders])
            db.executemany(
                "INSERT OR REPLACE INTO executions (shard, exec_id, order_id, account, symbol, seq, view) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(shard, x["exec_id"], x["order_id"], x["account"], x["symbol"], x["seq"], _json.encode(x)) for x in executions])
            db.executemany("INSERT OR REPLACE INTO positions (account, symbol, view) VALUES (?, ?, ?)",
                           [(p["account"], p["symbol"], _json.encode(p)) for p in positions])
            db.execute("INSERT OR REPLACE INTO progress (shard, seq) VALUES (?, ?)", (shard, last_seq))
            db.execute("INSERT OR REPLACE INTO position (one, stream_seq) VALUES (0, ?)", (stream_seq,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # --- the gateway's side -----------------------------------------------------------------

    def order(self, order_id: str) -> tuple[dict[str, Any], int, list[int]] | None:
        row = self._db.execute("SELECT view, shard, seqs FROM orders WHERE order_id = ?", (order_id,)).fetchone()
        if row is None:
            return None
        return msgspec.json.decode(row[0]), int(row[1]), msgspec.json.decode(row[2])

    def order_account(self, order_id: str) -> str | None:
        row = self._db.execute("SELECT account FROM orders WHERE order_id = ?", (order_id,)).fetchone()
        return None if row is None else str(row[0])

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
        rows = self._db.execute(sql + " ORDER BY created_ts DESC, order_id DESC LIMIT ?", (*args, limit)).fetchall()
        return [msgspec.json.decode(view) for (view,) in rows]

    def executions(self, *, account: str | None = None, symbol: str | None = None, order_id: str | None = None,
                   visible: frozenset[str] | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        where, args = _filters(account=account, symbol=symbol, visible=visible)
        if order_id is not None:
            where.append("order_id = ?")
            args.append(order_id)
        sql = "SELECT view FROM executions" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self._db.execute(sql + " ORDER BY seq DESC, shard LIMIT ?", (*args, limit)).fetchall()
        return [msgspec.json.decode(view) for (view,) in rows]

    def positions(self, *, account: str | None = None, symbol: str | None = None,
                  visible: frozenset[str] | None = None) -> list[dict[str, Any]]:
        where, args = _filters(account=account, symbol=symbol, visible=visible)
        sql = "SELECT view FROM positions" + (" WHERE " + " AND ".join(where) if where else "")
        return [msgspec.json.decode(view) for (view,) in self._db.execute(sql + " ORDER BY account, symbol", args).fetchall()]

    def order_events(self, shard: int, seqs: list[int]) -> list[bytes]:
        marks = ",".join("?" * len(seqs))
        rows = self._db.execute(f"SELECT data FROM events WHERE shard = ? AND seq IN ({marks}) ORDER BY seq",
                                (shard, *seqs)).fetchall()
        return [bytes(data) for (data,) in rows]


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
        where.append(f"account IN ({','.join('?' * len(visible))})" if visible else "0")
        args.extend(sorted(visible))
    return where, args
