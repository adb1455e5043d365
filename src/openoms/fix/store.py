"""What FIX sessions keep across restarts, in one small SQLite file beside the journal.

Per session: the next sequence number each way and every application message sent (so a
ResendRequest after a restart is answered with the messages themselves), and which orders and
ClOrdIDs belong to which session (so reports reach the session that owns the order).

Writes are buffered and committed by ``flush()``, which the gateway calls before it writes
anything to a socket: a sequence number is on disk before the counterparty can see it. The file
runs with ``synchronous=NORMAL`` (WAL): it survives a crash of the process, not of the machine;
the order journal, not this file, is the record of what happened.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS fix_session (
    session TEXT PRIMARY KEY, next_out INTEGER NOT NULL, next_in INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS fix_outbound (
    session TEXT NOT NULL, seq INTEGER NOT NULL, msg_type TEXT NOT NULL, sending_time TEXT NOT NULL,
    body BLOB NOT NULL, PRIMARY KEY (session, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fix_order (
    order_id TEXT PRIMARY KEY, session TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fix_period (session TEXT PRIMARY KEY, started INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS fix_route (
    session TEXT NOT NULL, route_id TEXT NOT NULL, cl_ord_id TEXT NOT NULL, PRIMARY KEY (session, route_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fix_cl_ord_id (
    session TEXT NOT NULL, cl_ord_id TEXT NOT NULL, order_id TEXT NOT NULL, PRIMARY KEY (session, cl_ord_id)) WITHOUT ROWID;
"""


class SessionStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._seqs: dict[str, tuple[int, int]] = {}
        self._outbound: list[tuple[str, int, str, str, bytes]] = []
        self._orders: list[tuple[str, str]] = []
        self._cl_ord_ids: list[tuple[str, str, str]] = []
        self._resets: list[str] = []
        self._routes: list[tuple[str, str, str]] = []
        self._periods: dict[str, int | None] = {}
        self._keep: dict[str, int] = {}  # session -> how many sent application messages to keep
        self._unpruned: dict[str, int] = {}  # session -> messages added since its last prune

    # --- sequence numbers and sent messages --------------------------------------------------

    def load_seqs(self, session: str) -> tuple[int, int]:
        """(next_out, next_in) for a session; (1, 1) for a new one."""
        row = self._db.execute("SELECT next_out, next_in FROM fix_session WHERE session = ?", (session,)).fetchone()
        return (int(row[0]), int(row[1])) if row else (1, 1)

    def set_seqs(self, session: str, next_out: int, next_in: int) -> None:
        self._seqs[session] = (next_out, next_in)

    def add_outbound(self, session: str, seq: int, msg_type: str, sending_time: str, body: bytes) -> None:
        self._outbound.append((session, seq, msg_type, sending_time, body))
        if session in self._keep:
            self._unpruned[session] += 1

    def keep_sent(self, session: str, count: int) -> None:
        """Keep only the last ``count`` application messages sent on ``session`` for resends
        (0: all). Older ones are deleted as ``flush`` goes (at most a tenth of ``count`` late);
        a ResendRequest for them is answered with SequenceReset-GapFill, as FIX allows."""
        if count > 0:
            self._keep[session] = count
            self._unpruned[session] = count  # the first flush prunes what an earlier run left
        else:
            self._keep.pop(session, None)

    def reset(self, session: str) -> None:
        """Both sequence numbers back to 1 (Logon with ResetSeqNumFlag): the old messages go."""
        self.flush()
        self._resets.append(session)

    def outbound(self, session: str, first: int, last: int) -> list[tuple[int, str, str, bytes]]:
        """Stored application messages with first <= seq <= last, in order."""
        self.flush()
        rows = self._db.execute(
            "SELECT seq, msg_type, sending_time, body FROM fix_outbound WHERE session = ? AND seq BETWEEN ? AND ? ORDER BY seq",
            (session, first, last),
        ).fetchall()
        return [(int(seq), str(kind), str(ts), bytes(body)) for seq, kind, ts, body in rows]

    # --- order ownership ------------------------------------------------------------------

    def add_order(self, order_id: str, session: str) -> None:
        self._orders.append((order_id, session))

    def add_cl_ord_id(self, session: str, cl_ord_id: str, order_id: str) -> None:
        self._cl_ord_ids.append((session, cl_ord_id, order_id))

    def period(self, session: str) -> int | None:
        """When the scheduled session's current period started (ns), if it has a schedule."""
        if session in self._periods:
            return self._periods[session]
        row = self._db.execute("SELECT started FROM fix_period WHERE session = ?", (session,)).fetchone()
        self._periods[session] = int(row[0]) if row else None
        return self._periods[session]

    def set_period(self, session: str, started: int) -> None:
        self._periods[session] = started
        self._db.execute("INSERT OR REPLACE INTO fix_period VALUES (?, ?)", (session, started))

    def set_route(self, session: str, route_id: str, cl_ord_id: str) -> None:
        """A venue session's current ClOrdID for a route (after a confirmed replace)."""
        self._routes.append((session, route_id, cl_ord_id))

    def routes(self, session: str) -> dict[str, str]:
        self.flush()
        rows = self._db.execute("SELECT route_id, cl_ord_id FROM fix_route WHERE session = ?", (session,))
        return {str(route_id): str(cl_ord_id) for route_id, cl_ord_id in rows}

    def orders(self) -> list[tuple[str, str]]:
        return [(str(a), str(b)) for a, b in self._db.execute("SELECT order_id, session FROM fix_order")]

    def cl_ord_ids(self) -> list[tuple[str, str, str]]:
        return [(str(a), str(b), str(c)) for a, b, c in self._db.execute("SELECT session, cl_ord_id, order_id FROM fix_cl_ord_id")]

    # --- commit ---------------------------------------------------------------------------

    def flush(self) -> None:
        if not (self._seqs or self._outbound or self._orders or self._cl_ord_ids or self._resets or self._routes):
            return
        db = self._db
        db.execute("BEGIN")
        try:
            for session in self._resets:
                db.execute("DELETE FROM fix_outbound WHERE session = ?", (session,))
            if self._outbound:
                db.executemany("INSERT OR REPLACE INTO fix_outbound VALUES (?, ?, ?, ?, ?)", self._outbound)
                if self._keep:
                    self._prune(db)
            if self._orders:
                db.executemany("INSERT OR REPLACE INTO fix_order VALUES (?, ?)", self._orders)
            if self._cl_ord_ids:
                db.executemany("INSERT OR REPLACE INTO fix_cl_ord_id VALUES (?, ?, ?)", self._cl_ord_ids)
            if self._routes:
                db.executemany("INSERT OR REPLACE INTO fix_route VALUES (?, ?, ?)", self._routes)
            if self._seqs:
                db.executemany("INSERT OR REPLACE INTO fix_session VALUES (?, ?, ?)",
                               [(session, out, inn) for session, (out, inn) in self._seqs.items()])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._seqs.clear()
        self._outbound.clear()
        self._orders.clear()
        self._cl_ord_ids.clear()
        self._resets.clear()
        self._routes.clear()

    def _prune(self, db: sqlite3.Connection) -> None:
        """Delete sent messages older than each session's last ``keep_sent`` ones, once a tenth
        of that many have been added (one DELETE per step, not per message). Counted in stored
        messages, not sequence numbers: heartbeats while idle push nothing out."""
        unpruned = self._unpruned
        for session, keep in self._keep.items():
            if unpruned[session] < max(1, keep // 10):
                continue
            db.execute("DELETE FROM fix_outbound WHERE session = ? AND seq < (SELECT seq FROM fix_outbound WHERE session = ? "
                       "ORDER BY seq DESC LIMIT 1 OFFSET ?)", (session, session, keep - 1))
            unpruned[session] = 0

    def close(self) -> None:
        self.flush()
        self._db.close()
