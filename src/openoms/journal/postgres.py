"""PostgreSQL journal: the production store, chosen by ``database_url`` (``OMS_DATABASE_URL``).

Same rows, same hash chain (chain.py) and same msgpack payloads (codec.py) as the SQLite journal;
the schema is managed by Alembic migrations (journal/migrations), applied when the journal opens.

One writer connection, used only by the journal writer thread, and one read connection per
reading thread. A batch of events is ONE statement (``INSERT ... SELECT FROM unnest(arrays)``,
binary parameters) in autocommit mode: one round trip, one transaction, one WAL flush for the
whole batch, which is group commit. Durability modes:

- ``group`` (default): ``synchronous_commit=on``: a batch is acknowledged once PostgreSQL has
  flushed it to its WAL on disk.
- ``event``: one transaction (and one WAL flush) per event: the slow baseline.
- ``relaxed``: ``synchronous_commit=off``: the commit returns before the WAL flush, which the
  server does within ``wal_writer_delay`` (200 ms by default). Survives a crash of OpenOMS;
  a crash of the database server or machine may lose the last moments. The journal is never
  corrupted by it (PostgreSQL replays its WAL consistently), only shortened.

The writer holds a session advisory lock for its schema, so a second OpenOMS writing the same
journal is refused at open instead of forking the chain. Any database error is raised as
``JournalError``: the runtime then fails closed (503 ENGINE_UNAVAILABLE). A lost connection is
``JournalUnavailable``: the runtime refuses new commands, calls ``reconnect()`` with backoff, and
resumes once the server's tail is the one it expects (service/runtime.py); anything else needs a
restart.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ..domain.events import Event
from .chain import GENESIS, ChainReport, Record, link, verify
from .codec import decode, encode
from .errors import JournalError, JournalUnavailable

DURABILITY_MODES = ("group", "event", "relaxed")
HEAD_REVISION = "0002"  # the newest migration; a test checks it against Alembic's head
MIGRATIONS = Path(__file__).with_name("migrations")
PAGE = 10_000  # rows per read round trip: reads page by primary key, no long-lived cursor
WRITER_LOCK = 0x4F4D5302  # advisory lock class for "the writer of this schema's journal"
WRITER_LOCK_WAIT_S = 5.0
CONNECT_TIMEOUT_S = 5  # a server that does not answer at all must not hang a reconnect attempt
# A network that goes silent (no RST: a cable, a firewall, a failed-over address) would leave a
# write or the idle probe blocked in recv for the kernel's ~15 min retransmission timeout. TCP
# keepalives notice an idle connection gone in ~5 + 3*2 s; tcp_user_timeout bounds unacknowledged
# writes to 10 s. Either way the connection breaks, and the runtime suspends and reconnects.
# Parameters the URL sets itself are kept.
KEEPALIVE = {"keepalives": "1", "keepalives_idle": "5", "keepalives_interval": "2", "keepalives_count": "3",
             "tcp_user_timeout": "10000"}

INSERT_BATCH = (
    "INSERT INTO events (seq, ts, payload, hash) "
    "SELECT * FROM unnest(%b::int8[], %b::int8[], %b::bytea[], %b::bytea[])"
)
INSERT_ONE = "INSERT INTO events (seq, ts, payload, hash) VALUES (%b, %b, %b, %b)"


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def redact(url: str) -> str:
    """The URL without its password, for logs, errors and /health."""
    return re.sub(r"^(\w+://[^:/@]+):[^@]*@", r"\1:***@", url)


def _error(action: str, url: str, exc: BaseException) -> JournalError:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return JournalError(f"{action} {redact(url)}: {detail}")


def schema_revision(conn: psycopg.Connection[tuple[Any, ...]]) -> str | None:
    row = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return None
    version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(version[0]) if version else None


def upgrade(url: str) -> str:
    """Bring the journal schema at ``url`` to the newest migration (``alembic upgrade head``).
    Returns the revision it is at. Cheap when already there: one query, no Alembic import."""
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            if schema_revision(conn) == HEAD_REVISION:
                return HEAD_REVISION
    except psycopg.Error as exc:
        raise _error("cannot open journal", url, exc) from exc
    # Imported here: SQLAlchemy and Alembic are needed only when there is something to migrate.
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from sqlalchemy.pool import NullPool

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    engine = sa.create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(url), poolclass=NullPool)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except (sa.exc.SQLAlchemyError, psycopg.Error) as exc:
        raise _error("cannot migrate journal", url, exc) from exc
    finally:
        engine.dispose()
    return HEAD_REVISION


def connect(url: str, **settings: Any) -> psycopg.Connection[tuple[Any, ...]]:
    """An autocommit connection with the keepalive settings (KEEPALIVE) the URL does not set itself."""
    given = conninfo_to_dict(url)
    extra = {key: value for key, value in KEEPALIVE.items() if key not in given}
    return psycopg.connect(make_conninfo(url, **extra), autocommit=True, **settings)


def _end_lingering_writer(conn: psycopg.Connection[tuple[Any, ...]], pid: int | None) -> None:
    """The previous writer session ``pid`` of this process, if the server still has it holding the
    writer lock (its connection went silent rather than closed, so the server has not noticed),
    is ended, so that the new connection can take the lock. A PID the server has since given to
    another session does not hold the lock, and is left alone."""
    if pid is None:
        return
    conn.execute("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND pid = %s "
                 "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                 "AND classid = %s::oid AND objid = hashtext(current_schema())::oid AND objsubid = 2",
                 (pid, WRITER_LOCK))


def _take_writer_lock(conn: psycopg.Connection[tuple[Any, ...]]) -> bool:
    """The single-writer lock. After a kill -9 the old session lingers on the server until it
    notices its socket closed, so an immediate restart waits a little for it to go."""
    deadline = time.monotonic() + WRITER_LOCK_WAIT_S
    while True:
        row = conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(current_schema()))", (WRITER_LOCK,)).fetchone()
        if row and row[0]:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


class PostgresJournal:
    def __init__(self, url: str, durability: str = "group", migrate: bool = True) -> None:
        if durability not in DURABILITY_MODES:
            raise ValueError(f"durability must be one of {DURABILITY_MODES}, got {durability!r}")
        if not is_postgres_url(url):
            raise JournalError(f"not a PostgreSQL URL: {redact(url)!r} (expected postgresql://...)")
        self.url = url
        self.location = redact(url)
        self.durability = durability
        if migrate:
            upgrade(url)
        try:
            # Named, so operations can find the writer in pg_stat_activity.
            conn = connect(url, application_name="openoms-journal-writer")
        except psycopg.Error as exc:
            raise _error("cannot open journal", url, exc) from exc
        try:
            conn.execute(f"SET synchronous_commit TO {'off' if durability == 'relaxed' else 'on'}")
            if not _take_writer_lock(conn):
                raise JournalError(f"journal {self.location} is being written by another OpenOMS process")
            row = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        except psycopg.Error as exc:
            conn.close()
            raise _error("cannot open journal", url, exc) from exc
        except JournalError:
            conn.close()
            raise
        self._conn = conn
        self._writer_pid: int | None = int(conn.info.backend_pid)
        self._last_seq: int = int(row[0]) if row else 0
        self._last_hash: bytes = bytes(row[1]) if row else GENESIS
        self._local = threading.local()
        self._readers: list[psycopg.Connection[tuple[Any, ...]]] = []
        self._readers_lock = threading.Lock()

    @property
    def writer_backend_pid(self) -> int:
        """The server process of the writer connection (operations: what to look for in pg_stat_activity)."""
        return int(self._conn.info.backend_pid)

    # --- writing (journal writer thread only) ------------------------------------------------

    def head(self) -> tuple[int, bytes]:
        return self._last_seq, self._last_hash

    def append(self, events: Sequence[Event]) -> None:
        """Append and commit; returns only once the events are as durable as the mode promises.
        On any failure nothing of the batch is counted as written (the statement is atomic); a
        commit whose answer was lost may still be on the server, and the restart's replay finds it."""
        if not events:
            return
        seqs: list[int] = []
        stamps: list[int] = []
        payloads: list[bytes] = []
        digests: list[bytes] = []
        prev = self._last_hash
        seq = self._last_seq
        for event in events:
            seq += 1
            if event.seq != seq:
                raise JournalError(f"event seq {event.seq} does not follow journal seq {seq - 1}")
            payload = encode(event)
            prev = link(prev, payload)
            seqs.append(seq)
            stamps.append(event.ts)
            payloads.append(payload)
            digests.append(prev)
        try:
            if self.durability == "event":
                for row in zip(seqs, stamps, payloads, digests, strict=True):
                    self._conn.execute(INSERT_ONE, row)
            else:
                self._conn.execute(INSERT_BATCH, (seqs, stamps, payloads, digests))
        except psycopg.Error as exc:
            error = _error(f"seq {seqs[0]} not written to", self.url, exc)
            # The server (or the network to it) went away, not the data: reconnecting may help. A
            # connection this process closed itself is not that (closed but not broken).
            if self._conn.broken or (isinstance(exc, psycopg.OperationalError) and not self._conn.closed):
                raise JournalUnavailable(str(error)) from exc
            raise error from exc
        self._last_seq = seq
        self._last_hash = prev

    def ping(self) -> None:
        """One round trip on the writer connection (writer thread only): is the server still there?"""
        try:
            self._conn.execute("SELECT 1")
        except psycopg.Error as exc:
            error = _error("lost the connection to journal", self.url, exc)
            if self._conn.broken or (isinstance(exc, psycopg.OperationalError) and not self._conn.closed):
                raise JournalUnavailable(str(error)) from exc
            raise error from exc

    def reconnect(self) -> tuple[int, bytes]:
        """After ``JournalUnavailable``: a new writer connection (taking the writer lock again)
        and the journal's tail (seq, hash) as the server has it, which becomes this journal's
        head. Raises ``JournalUnavailable`` while the server cannot be reached."""
        with contextlib.suppress(psycopg.Error):
            self._conn.close()
        try:
            conn = connect(self.url, application_name="openoms-journal-writer", connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.Error as exc:
            raise JournalUnavailable(str(_error("cannot reconnect to journal", self.url, exc))) from exc
        try:
            conn.execute(f"SET synchronous_commit TO {'off' if self.durability == 'relaxed' else 'on'}")
            # The old session may linger on the server: a moment after its connection was cut, or
            # indefinitely if the network went silent (the server never saw it close).
            _end_lingering_writer(conn, self._writer_pid)
            if not _take_writer_lock(conn):
                raise JournalUnavailable(f"journal {self.location}: the writer lock is still held (the old session lingers?)")
            row = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        except psycopg.Error as exc:
            conn.close()
            raise JournalUnavailable(str(_error("cannot reconnect to journal", self.url, exc))) from exc
        except JournalError:
            conn.close()
            raise
        self._conn = conn
        self._writer_pid = int(conn.info.backend_pid)
        self._last_seq = int(row[0]) if row else 0
        self._last_hash = bytes(row[1]) if row else GENESIS
        return self._last_seq, self._last_hash

    def close(self) -> None:
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for conn in [self._conn, *readers]:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    # --- reading (any thread) ---------------------------------------------------------------

    def _reader(self) -> psycopg.Connection[tuple[Any, ...]]:
        conn: psycopg.Connection[tuple[Any, ...]] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            try:
                conn = connect(self.url, application_name="openoms-journal-reader")
            except psycopg.Error as exc:
                raise _error("cannot read journal", self.url, exc) from exc
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def records(self, after_seq: int = 0) -> Iterator[Record]:
        return _records(self._reader(), self.url, after_seq)

    def events(self, after_seq: int = 0) -> Iterator[Event]:
        return _events(self._reader(), self.url, after_seq)

    def events_at(self, seqs: Sequence[int]) -> list[Event]:
        """Events by seq (an order's history: the engine knows its seqs), in seq order. A reader
        connection the server dropped (restart, failover) is replaced and the read tried once more."""
        conn = self._reader()
        try:
            return _events_at(conn, self.url, seqs)
        except JournalError:
            if not conn.broken:
                raise
            return _events_at(self._reader(), self.url, seqs)

    def count(self) -> int:
        return self._last_seq


def _events(conn: psycopg.Connection[tuple[Any, ...]], url: str, after_seq: int) -> Iterator[Event]:
    last = after_seq
    while True:
        try:
            rows = conn.execute("SELECT seq, payload FROM events WHERE seq > %b ORDER BY seq LIMIT %b",
                                (last, PAGE), binary=True).fetchall()
        except psycopg.Error as exc:
            raise _error("cannot read journal", url, exc) from exc
        if not rows:
            return
        for _, payload in rows:
            yield decode(payload)
        last = rows[-1][0]


def _events_at(conn: psycopg.Connection[tuple[Any, ...]], url: str, seqs: Sequence[int]) -> list[Event]:
    if not seqs:
        return []
    try:
        rows = conn.execute("SELECT payload FROM events WHERE seq = ANY(%b::int8[]) ORDER BY seq",
                            (list(seqs),), binary=True).fetchall()
    except psycopg.Error as exc:
        raise _error("cannot read journal", url, exc) from exc
    return [decode(payload) for (payload,) in rows]


def _records(conn: psycopg.Connection[tuple[Any, ...]], url: str, after_seq: int = 0,
             upto_seq: int = 2**62) -> Iterator[Record]:
    try:
        prev = GENESIS
        if after_seq:
            row = conn.execute("SELECT hash FROM events WHERE seq = %b", (after_seq,), binary=True).fetchone()
            prev = bytes(row[0]) if row else GENESIS
        last = after_seq
        while last < upto_seq:
            # The bound goes into LIMIT, not a second range condition: with ``seq <= %b`` the
            # generic plan psycopg prepares after five pages sorted the table for every page (3x slower).
            rows = conn.execute("SELECT seq, payload, hash FROM events WHERE seq > %b ORDER BY seq LIMIT %b",
                                (last, min(PAGE, upto_seq - last)), binary=True).fetchall()
            if not rows:
                return
            for seq, payload, digest in rows:
                if seq > upto_seq:  # past a gap, the page can reach beyond the bound
                    return
                yield Record(seq, payload, prev, digest)
                prev = digest
            last = rows[-1][0]
    except psycopg.Error as exc:
        raise _error("cannot read journal", url, exc) from exc


def _connect_existing(url: str) -> psycopg.Connection[tuple[Any, ...]]:
    """A read connection to a journal that must already exist (no migration: audits only read)."""
    if not is_postgres_url(url):
        raise JournalError(f"not a PostgreSQL URL: {redact(url)!r} (expected postgresql://...)")
    try:
        conn = psycopg.connect(url, autocommit=True)
        found = conn.execute("SELECT to_regclass('events') IS NOT NULL").fetchone()
    except psycopg.Error as exc:
        raise _error("cannot read journal", url, exc) from exc
    if not found or not found[0]:
        conn.close()
        raise JournalError(f"no journal at {redact(url)} (no events table)")
    return conn


class PostgresReader:
    """A PostgreSQL journal opened only to read it (``oms audit``, ``oms export``, ``oms posttrade``
    beside a running server): no migration, no writer lock, one connection."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.location = redact(url)
        self._conn = _connect_existing(url)

    def records(self, after_seq: int = 0) -> Iterator[Record]:
        return _records(self._conn, self.url, after_seq)

    def events(self, after_seq: int = 0) -> Iterator[Event]:
        return _events(self._conn, self.url, after_seq)

    def events_at(self, seqs: Sequence[int]) -> list[Event]:
        return _events_at(self._conn, self.url, seqs)

    def count(self) -> int:
        """The last seq (the journal has no gaps, so this is its length)."""
        try:
            row = self._conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
        except psycopg.Error as exc:
            raise _error("cannot read journal", self.url, exc) from exc
        return int(row[0]) if row else 0

    def close(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self._conn.close()


def open_readonly_records(url: str) -> Iterator[Record]:
    """Records of the journal at ``url`` without migrating or writing (``oms audit verify``)."""
    conn = _connect_existing(url)
    try:
        yield from _records(conn, url)
    finally:
        conn.close()


# The link check as one query, run by the database server on its own core(s): each row's hash
# must be sha256(previous row's hash || payload), the first row's previous hash the genesis.
# A missing previous row (a gap) makes the expected hash NULL, which is "distinct" too.
CHAIN_CHECK = """
SELECT count(*), coalesce(max(e.seq), 0),
       min(e.seq) FILTER (WHERE e.hash IS DISTINCT FROM
           sha256(coalesce(p.hash, CASE WHEN e.seq = 1 THEN %(genesis)s::bytea END) || e.payload))
FROM events e LEFT JOIN events p ON p.seq = e.seq - 1
WHERE e.seq <= %(upto)s
"""


def verify_url(url: str, upto_seq: int) -> ChainReport:
    """Check the hash links and sequence of the journal at ``url`` up to ``upto_seq``: what
    start-up runs beside its replay (``python -m openoms.journal.check URL UPTO``). The hashing
    runs inside PostgreSQL; only when it finds a break does this walk the records in Python
    to name the first bad one exactly as ``chain.verify`` does."""
    try:
        conn = _connect_existing(url)
    except JournalError as exc:
        return ChainReport(False, 0, 0, None, str(exc))
    try:
        row = conn.execute(CHAIN_CHECK, {"genesis": GENESIS, "upto": upto_seq}).fetchone()
        assert row is not None
        rows, last, first_bad = int(row[0]), int(row[1]), row[2]
        if first_bad is None and rows == last == upto_seq:
            return ChainReport(True, rows, last)
        report = verify(_records(conn, url, upto_seq=upto_seq), decode_payloads=False)
    except (psycopg.Error, JournalError) as exc:
        return ChainReport(False, 0, 0, None, f"cannot read journal {redact(url)}: {exc}")
    finally:
        conn.close()
    if report.ok and report.last_seq != upto_seq:
        return ChainReport(False, report.checked, report.last_seq, report.last_seq + 1,
                           f"journal ends at seq {report.last_seq}, expected {upto_seq}")
    return report
