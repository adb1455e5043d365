"""SQLite journal: the embedded default. WAL mode; ``synchronous=FULL`` makes every commit durable.

One writer connection (used only by the journal writer thread) and per-thread read
connections. A batch of events is one transaction, so group commit costs one fsync for
the whole batch; ``durability="event"`` commits each event on its own (the slow baseline),
``durability="relaxed"`` leaves fsync to checkpoints (survives a process crash, not power loss).
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..domain.events import Event
from .chain import GENESIS, ChainReport, Record, link, verify
from .codec import decode, encode
from .errors import JournalError

__all__ = ["DURABILITY_MODES", "JournalError", "SqliteJournal", "open_readonly_records", "verify_file"]

# One row per event, nothing more: the payload carries the event (type, order, actor, ...),
# ``hash`` chains it to the row before (whose hash is the previous link, so it is not stored
# twice). No secondary index: the engine keeps each order's seqs in memory (rebuilt by replay)
# and reads its history by primary key, which keeps an append at about 2 us per event.
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq     INTEGER PRIMARY KEY,
    ts      INTEGER NOT NULL,
    payload BLOB    NOT NULL,
    hash    BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

DURABILITY_MODES = ("group", "event", "relaxed")
ROWS_PER_INSERT = 500  # 4 columns: 2,000 bound values per statement, well under SQLite's 32,766


@functools.lru_cache(maxsize=ROWS_PER_INSERT)
def _insert_sql(rows: int) -> str:
    return "INSERT INTO events VALUES " + ",".join(["(?,?,?,?)"] * rows)


class SqliteJournal:
    def __init__(self, path: Path, durability: str = "group", readonly: bool = False) -> None:
        """``readonly``: a reader beside a running server or on a copy (``oms audit``, exports):
        opens nothing for writing, creates nothing, and never checkpoints the server's WAL."""
        if durability not in DURABILITY_MODES:
            raise ValueError(f"durability must be one of {DURABILITY_MODES}, got {durability!r}")
        self.path = Path(path)
        self.location = str(self.path)  # what logs, /health and the start-up chain check name
        self.durability = durability
        self.readonly = readonly
        if readonly and not self.path.exists():
            raise JournalError(f"no journal at {self.path}")
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            if readonly:
                self._conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
            else:
                self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute(f"PRAGMA synchronous={'NORMAL' if durability == 'relaxed' else 'FULL'}")
                self._conn.executescript(SCHEMA)
            row = self._conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"cannot open journal {self.path}: {exc}") from exc
        self._last_seq: int = row[0] if row else 0
        self._last_hash: bytes = row[1] if row else GENESIS
        self._local = threading.local()

    # --- writing (journal writer thread only) ------------------------------------------------

    def head(self) -> tuple[int, bytes]:
        return self._last_seq, self._last_hash

    def append(self, events: Sequence[Event]) -> None:
        """Append and commit; returns only once the events are as durable as the mode promises."""
        if not events:
            return
        if self.readonly:
            raise JournalError(f"journal {self.path} is open read-only")
        rows = []
        prev = self._last_hash
        seq = self._last_seq
        for event in events:
            seq += 1
            if event.seq != seq:
                raise JournalError(f"event seq {event.seq} does not follow journal seq {seq - 1}")
            payload = encode(event)
            digest = link(prev, payload)
            rows.append((seq, event.ts, payload, digest))
            prev = digest
        conn = self._conn
        try:
            if self.durability == "event":
                for row in rows:
                    conn.execute("BEGIN")
                    conn.execute("INSERT INTO events VALUES (?,?,?,?)", row)
                    conn.execute("COMMIT")
            else:
                conn.execute("BEGIN")
                # Multi-row INSERTs: one sqlite3_step (one GIL release) per chunk instead of one
                # per row. Per-row stepping made the writer thread queue for the GIL behind the
                # engine loop after every row, halving throughput.
                for start in range(0, len(rows), ROWS_PER_INSERT):
                    chunk = rows[start : start + ROWS_PER_INSERT]
                    conn.execute(_insert_sql(len(chunk)), [value for row in chunk for value in row])
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise JournalError(f"journal write failed at seq {rows[0][0]}: {exc}") from exc
        self._last_seq = seq
        self._last_hash = prev

    def close(self) -> None:
        if not self.readonly:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._conn.close()

    # --- reading (any thread) ---------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self._local.conn = conn
        return conn

    def records(self, after_seq: int = 0) -> Iterator[Record]:
        return _records(self._reader(), after_seq)

    def events(self, after_seq: int = 0) -> Iterator[Event]:
        cursor = self._reader().execute("SELECT payload FROM events WHERE seq > ? ORDER BY seq", (after_seq,))
        cursor.arraysize = 4096
        while rows := cursor.fetchmany():
            for (payload,) in rows:
                yield decode(payload)

    def events_at(self, seqs: Sequence[int]) -> list[Event]:
        """Events by seq (an order's history: the engine knows its seqs), in seq order."""
        conn = self._reader()
        found: list[Event] = []
        for start in range(0, len(seqs), 500):
            chunk = seqs[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(f"SELECT payload FROM events WHERE seq IN ({marks}) ORDER BY seq", chunk).fetchall()
            found.extend(decode(payload) for (payload,) in rows)
        return found

    def count(self) -> int:
        return self._last_seq


def _records(conn: sqlite3.Connection, after_seq: int = 0, upto_seq: int = 2**62) -> Iterator[Record]:
    prev = GENESIS
    if after_seq:
        row = conn.execute("SELECT hash FROM events WHERE seq = ?", (after_seq,)).fetchone()
        prev = row[0] if row else GENESIS
    cursor = conn.execute("SELECT seq, payload, hash FROM events WHERE seq > ? AND seq <= ? ORDER BY seq",
                          (after_seq, upto_seq))
    cursor.arraysize = 4096
    while rows := cursor.fetchmany():
        for seq, payload, digest in rows:
            yield Record(seq, payload, prev, digest)
            prev = digest


def open_readonly_records(path: Path) -> Iterator[Record]:
    """Records of a journal file without opening it for writing (``oms audit verify`` on a copy)."""
    if not Path(path).exists():
        raise JournalError(f"no journal at {path}")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        yield from _records(conn)
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"cannot read journal {path}: {exc}") from exc
    finally:
        conn.close()


def verify_file(path: str, upto_seq: int) -> ChainReport:
    """Check the hash links and sequence of a journal file up to ``upto_seq``: what start-up runs
    in a helper process while the main one replays (which decodes every record itself)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        report = verify(_records(conn, upto_seq=upto_seq), decode_payloads=False)
    except sqlite3.DatabaseError as exc:
        return ChainReport(False, 0, 0, None, f"cannot read journal {path}: {exc}")
    finally:
        conn.close()
    if report.ok and report.last_seq != upto_seq:
        return ChainReport(False, report.checked, report.last_seq, report.last_seq + 1,
                           f"journal ends at seq {report.last_seq}, expected {upto_seq}")
    return report
