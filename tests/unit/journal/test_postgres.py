"""What only the PostgreSQL journal has: Alembic migrations, the append-only trigger, the
single-writer lock, errors that name the database without its password, and the chain check
that hashes inside the server (start-up's parallel check)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from builders import Desk
from openoms.journal import postgres
from openoms.journal.chain import GENESIS, verify
from openoms.journal.postgres import (
    HEAD_REVISION,
    MIGRATIONS,
    PostgresJournal,
    open_readonly_records,
    redact,
    upgrade,
    verify_url,
)
from openoms.journal.sqlite import JournalError
from stores import Store


def filled(url: str, orders: int = 6) -> tuple[Desk, PostgresJournal]:
    desk = Desk()
    for i in range(orders):
        order_id = desk.submit_ok("100", "230.00", cl_ord_id=f"P{i}")
        desk.ack(order_id)
    journal = PostgresJournal(url)
    journal.append(desk.events[:5])
    journal.append(desk.events[5:])
    return desk, journal


def test_head_revision_is_alembics_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD_REVISION]


def test_upgrade_creates_the_schema_once_and_is_idempotent(pg_url: str) -> None:
    assert upgrade(pg_url) == HEAD_REVISION
    assert upgrade(pg_url) == HEAD_REVISION
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(HEAD_REVISION,)]
        columns = conn.execute("SELECT column_name, data_type FROM information_schema.columns "
                               "WHERE table_name = 'events' AND table_schema = current_schema() ORDER BY ordinal_position").fetchall()
    assert columns == [("seq", "bigint"), ("ts", "bigint"), ("payload", "bytea"), ("hash", "bytea")]


def test_oms_db_upgrade_command_migrates_the_database(pg_url: str) -> None:
    done = subprocess.run([sys.executable, "-m", "openoms", "db", "upgrade", "--database-url", pg_url],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"revision {HEAD_REVISION}" in done.stdout
    missing = subprocess.run([sys.executable, "-m", "openoms", "db", "upgrade"], capture_output=True, text=True, timeout=60,
                             env={"PATH": "/usr/bin:/bin"})
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


@pytest.mark.parametrize("statement", ["UPDATE events SET ts = 0", "DELETE FROM events WHERE seq = 1", "TRUNCATE events"])
def test_the_events_table_refuses_edits(pg_url: str, statement: str) -> None:
    _, journal = filled(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        conn.execute(statement)
    assert verify(journal.records()).ok
    journal.close()


def test_a_second_writer_on_the_same_journal_is_refused_until_the_first_closes(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    desk, first = filled(pg_url)
    monkeypatch.setattr(postgres, "WRITER_LOCK_WAIT_S", 0.3)
    with pytest.raises(JournalError, match="another OpenOMS process"):
        PostgresJournal(pg_url)
    first.close()
    second = PostgresJournal(pg_url)
    assert second.head()[0] == len(desk.events)
    second.close()


def test_an_unreachable_server_is_a_journal_error_without_the_password() -> None:
    url = "postgresql://oms:s3cret@127.0.0.1:1/nowhere"
    with pytest.raises(JournalError, match="cannot open journal") as caught:
        PostgresJournal(url)
    assert "s3cret" not in str(caught.value) and "oms:***@127.0.0.1:1/nowhere" in str(caught.value)
    assert redact("postgresql://u:p@h/db") == "postgresql://u:***@h/db"
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"
    with pytest.raises(JournalError, match="not a PostgreSQL URL"):
        PostgresJournal("mysql://h/db")


def test_reading_a_database_without_a_journal_is_an_error_and_creates_nothing(pg_url: str) -> None:
    with pytest.raises(JournalError, match="no journal"):
        list(open_readonly_records(pg_url))
    report = verify_url(pg_url, 10)
    assert not report.ok and "no journal" in report.problem
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('events')").fetchone() == (None,)


def test_server_side_chain_check_agrees_with_chain_verify(pg_url: str) -> None:
    desk, journal = filled(pg_url)
    journal.close()
    n = len(desk.events)
    store = Store("postgresql", Path("unused"), pg_url)
    assert verify_url(pg_url, n).ok and verify_url(pg_url, n).checked == n
    assert verify_url(pg_url, n - 3).checked == n - 3  # a check up to a seq ignores what follows
    short = verify_url(pg_url, n + 2)
    assert (short.ok, short.first_bad_seq) == (False, n + 1) and f"ends at seq {n}" in short.problem

    store.set_hash(5, GENESIS)
    report = verify_url(pg_url, n)
    assert (report.ok, report.first_bad_seq) == (False, 5)
    assert report == verify(open_readonly_records(pg_url), decode_payloads=False)

    store.delete(3)
    report = verify_url(pg_url, n)
    assert (report.ok, report.first_bad_seq) == (False, 4) and "sequence gap" in report.problem
