"""What FIX sessions keep across restarts, in one small SQLite file beside the journal.

Per session: the next sequence number each way and every application message sent (so a
ResendRequest after a restart is answered with the messages themselves), and which orders and
ClOrdIDs belong to which session (so reports reach the session that owns the order).

Writes are buffered and committed by ``flush()``, which the gateway calls before it writes
anything to a socket: a sequence number is on disk before the counterparty can see it. The file
runs with ``synchronous=NORMAL`` (WAL): it survives a crash of the process, not of the machine;
the order journal, not this file, is the record of what happened.

Each flush writes one row per session for the messages it sent (``fix_sent``: a MessagePack
list of (seq, MsgType, SendingTime, body)) and one row for the orders and ClOrdIDs it took on
(``fix_owned``), not one row per message: at a few hundred reports per group commit, the
per-row inserts were the acceptor's largest single cost after the engine. Both are read back only for a resend or at start.
Files written before this kept a row per message (``fix_outbound``, ``fix_order``,
``fix_cl_ord_id``); those rows are still read, and pruned and reset like the new ones.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec

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
CREATE TABLE IF NOT EXISTS fix_sent (
    session TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL, count INTEGER NOT NULL,
    messages BLOB NOT NULL, PRIMARY KEY (session, first_seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fix_owned (batch INTEGER PRIMARY KEY, orders BLOB NOT NULL, cl_ord_ids BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS fix_told (source INTEGER PRIMARY KEY, seq INTEGER NOT NULL);
"""

Sent = tuple[int, str, str, bytes]  # seq, MsgType, SendingTime, body
_SENT = msgspec.msgpack.Decoder(list[tuple[int, str, str, bytes]])
_ORDERS = msgspec.msgpack.Decoder(list[tuple[str, str]])
_CL_ORD_IDS = msgspec.msgpack.Decoder(list[tuple[str, str, str]])
_encode = msgspec.msgpack.Encoder().encode


class SessionStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._seqs: dict[str, tuple[int, int]] = {}
        self._outbound: dict[str, list[Sent]] = {}  # session -> messages sent since the last flush
        self._orders: list[tuple[str, str]] = []
        self._cl_ord_ids: list[tuple[str, str, str]] = []
        self._resets: list[str] = []
        self._routes: list[tuple[str, str, str]] = []
        self._periods: dict[str, int | None] = {}
        self._keep: dict[str, int] = {}  # session -> how many sent application messages to keep
        self._unpruned: dict[str, int] = {}  # session -> messages added since its last prune
        self._told: dict[int, int] = {}  # event source (a cluster shard) -> last journal seq reported on

    # --- sequence numbers and sent messages --------------------------------------------------

    def load_seqs(self, session: str) -> tuple[int, int]:
        """(next_out, next_in) for a session; (1, 1) for a new one."""
        row = self._db.execute("SELECT next_out, next_in FROM fix_session WHERE session = ?", (session,)).fetchone()
        return (int(row[0]), int(row[1])) if row else (1, 1)

    def set_seqs(self, session: str, next_out: int, next_in: int) -> None:
        self._seqs[session] = (next_out, next_in)

    def add_outbound(self, session: str, seq: int, msg_type: str, sending_time: str, body: bytes) -> None:
        sent = self._outbound.get(session)
        if sent is None:
            sent = self._outbound[session] = []
        sent.append((seq, msg_type, sending_time, body))
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

    def outbound(self, session: str, first: int, last: int) -> list[Sent]:
        """Stored application messages with first <= seq <= last, in order (with ``keep_sent``:
        only the last that many, whatever a pruning step has not deleted yet)."""
        self.flush()
        db = self._db
        found: dict[int, Sent] = {}
        for seq, kind, ts, body in db.execute(
                "SELECT seq, msg_type, sending_time, body FROM fix_outbound WHERE session = ? AND seq BETWEEN ? AND ?",
                (session, first, last)):
            found[int(seq)] = (int(seq), str(kind), str(ts), bytes(body))
        for (blob,) in db.execute("SELECT messages FROM fix_sent WHERE session = ? AND last_seq >= ? AND first_seq <= ?",
                                  (session, first, last)):
            for message in _SENT.decode(blob):
                if first <= message[0] <= last:
                    found[message[0]] = message
        keep = self._keep.get(session)
        oldest = self._first_kept(session, keep) if keep else 0
        return [found[seq] for seq in sorted(found) if seq >= oldest]

    def _first_kept(self, session: str, keep: int) -> int:
        """The seq of the oldest of the session's last ``keep`` stored messages (0: fewer are stored)."""
        db = self._db
        total = 0
        for first_seq, count in db.execute("SELECT first_seq, count FROM fix_sent WHERE session = ? ORDER BY first_seq DESC",
                                           (session,)).fetchall():
            if total + count >= keep:
                (blob,) = db.execute("SELECT messages FROM fix_sent WHERE session = ? AND first_seq = ?",
                                     (session, first_seq)).fetchone()
                seqs = sorted(message[0] for message in _SENT.decode(blob))
                return seqs[len(seqs) - (keep - total)]
            total += count
        row = db.execute("SELECT seq FROM fix_outbound WHERE session = ? ORDER BY seq DESC LIMIT 1 OFFSET ?",
                         (session, keep - total - 1)).fetchone()
        return int(row[0]) if row else 0

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
        """(order id, session) of every order a session took on."""
        owner = {str(a): str(b) for a, b in self._db.execute("SELECT order_id, session FROM fix_order")}
        for (blob,) in self._db.execute("SELECT orders FROM fix_owned ORDER BY batch"):
            owner.update(_ORDERS.decode(blob))
        return list(owner.items())

    def cl_ord_ids(self) -> list[tuple[str, str, str]]:
        """(session, ClOrdID, order id): every ClOrdID a session used, the last word on each."""
        ids = {(str(a), str(b)): str(c) for a, b, c in self._db.execute("SELECT session, cl_ord_id, order_id FROM fix_cl_ord_id")}
        for (blob,) in self._db.execute("SELECT cl_ord_ids FROM fix_owned ORDER BY batch"):
            ids.update(((session, cl_ord_id), order_id) for session, cl_ord_id, order_id in _CL_ORD_IDS.decode(blob))
        return [(session, cl_ord_id, order_id) for (session, cl_ord_id), order_id in ids.items()]

    def set_told(self, source: int, seq: int) -> None:
        """On a cluster gateway: the sessions have been told the events of shard ``source`` up to
        ``seq``; committed with the reports they made, so a restart goes on from exactly there."""
        self._told[source] = seq

    def told(self) -> dict[int, int]:
        return {int(source): int(seq) for source, seq in self._db.execute("SELECT source, seq FROM fix_told")}

    # --- commit ---------------------------------------------------------------------------

    def flush(self) -> None:
        if not (self._seqs or self._outbound or self._orders or self._cl_ord_ids or self._resets or self._routes or self._told):
            return
        db = self._db
        db.execute("BEGIN")
        try:
            for session in self._resets:
                db.execute("DELETE FROM fix_outbound WHERE session = ?", (session,))
                db.execute("DELETE FROM fix_sent WHERE session = ?", (session,))
            if self._outbound:
                db.executemany("INSERT OR REPLACE INTO fix_sent VALUES (?, ?, ?, ?, ?)",
                               [(session, sent[0][0], sent[-1][0], len(sent), _encode(sent)) for session, sent in self._outbound.items()])
                if self._keep:
                    self._prune(db)
            if self._orders or self._cl_ord_ids:
                db.execute("INSERT INTO fix_owned (orders, cl_ord_ids) VALUES (?, ?)",
                           (_encode(self._orders), _encode(self._cl_ord_ids)))
            if self._routes:
                db.executemany("INSERT OR REPLACE INTO fix_route VALUES (?, ?, ?)", self._routes)
            if self._seqs:
                db.executemany("INSERT OR REPLACE INTO fix_session VALUES (?, ?, ?)",
                               [(session, out, inn) for session, (out, inn) in self._seqs.items()])
            if self._told:
                db.executemany("INSERT OR REPLACE INTO fix_told VALUES (?, ?)", list(self._told.items()))
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
        self._told.clear()

    def _prune(self, db: sqlite3.Connection) -> None:
        """Delete sent messages older than each session's last ``keep_sent`` ones, once a tenth
        of that many have been added (one DELETE per step, not per message). Counted in stored
        messages, not sequence numbers: heartbeats while idle push nothing out."""
        unpruned = self._unpruned
        for session, keep in self._keep.items():
            if unpruned[session] < max(1, keep // 10):
                continue
            oldest = self._first_kept(session, keep)
            if oldest:  # rows wholly older than it go (the row holding it stays, with what it holds)
                db.execute("DELETE FROM fix_sent WHERE session = ? AND last_seq < ?", (session, oldest))
                db.execute("DELETE FROM fix_outbound WHERE session = ? AND seq < ?", (session, oldest))
            unpruned[session] = 0

    def close(self) -> None:
        self.flush()
        self._db.close()
