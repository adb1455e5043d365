"""Journal faults: a corrupted tail, a missing row, a broken link found by start-up's parallel
check (on SQLite and on PostgreSQL); a torn write-ahead log and a file that is not a journal
(SQLite). Each is detected and reported precisely; nothing starts on a broken chain. The lost
PostgreSQL connection mid-commit is in test_postgres_faults.py."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from openoms.bootstrap import build
from openoms.config import Config
from openoms.demo import SIM, demo_reference
from openoms.domain import commands as cmd
from openoms.domain.engine import OrderEngine
from openoms.domain.events import Event
from openoms.domain.ids import AccountId, ClientOrderId, ExecId, RouteId, Symbol, VenueOrderId
from openoms.domain.values import Side
from openoms.journal.chain import verify
from openoms.journal.sqlite import JournalError, SqliteJournal
from openoms.service.runtime import JournalCorrupt
from stores import Store

NOW = 1_780_000_000_000_000_000
TRADER = cmd.Actor("demo", "test")
VENUE = cmd.Actor("SIM", "venue")


def order_events(engine: OrderEngine, i: int) -> list[Event]:
    events = engine.handle(
        cmd.SubmitOrder(actor=TRADER, account=AccountId("ACC-EQ-1"), cl_ord_id=ClientOrderId(f"C{i}"),
                        symbol=Symbol("AAPL"), side=Side.BUY, quantity=Decimal(100), price=Decimal("100.00")),
        NOW + i,
    )
    order_id = events[0].order_id  # type: ignore[attr-defined]
    events += engine.handle(cmd.VenueAccepted(actor=VENUE, route_id=RouteId(f"{order_id}-1"), venue_order_id=VenueOrderId(f"V{i}")), NOW + i)
    return events


def write_orders(target: Path | Store, batches: int, per_batch: int = 10) -> OrderEngine:
    engine = OrderEngine(demo_reference(), default_venue=SIM)
    journal = target.journal() if isinstance(target, Store) else SqliteJournal(target)
    for b in range(batches):
        batch: list[Event] = []
        for i in range(per_batch):
            batch += order_events(engine, b * per_batch + i)
        journal.append(batch)
    journal.close()
    return engine


def oms_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "openoms", *args], capture_output=True, text=True, timeout=60)


def test_corrupted_last_event_is_named_by_verify_and_blocks_start(store: Store) -> None:
    config = store.config(market_data=False)
    engine = write_orders(store, batches=3)
    last = engine.seq
    payload = store.payload(last)
    tampered = payload.replace(b"V29", b"V92")
    assert tampered != payload
    store.set_payload(last, tampered)

    with pytest.raises(JournalCorrupt, match=f"seq {last}"):
        build(config).recover()

    result = oms_cli("audit", "verify", *store.cli_args())
    assert result.returncode == 1
    assert f"at seq {last}" in result.stdout and "hash does not match" in result.stdout
    assert f"{last - 1} events verified before it" in result.stdout
    served = oms_cli("serve", *store.cli_args(), "--port", "1")
    assert served.returncode == 1
    assert f"seq {last}" in served.stdout + served.stderr and "Traceback" not in served.stdout + served.stderr


def test_verify_works_on_a_copy_and_reports_a_clean_chain(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    engine = write_orders(path, batches=2)
    copy = tmp_path / "copy.sqlite"
    shutil.copy(path, copy)
    result = oms_cli("audit", "verify", "--journal", str(copy), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f'"checked": {engine.seq}' in result.stdout and '"ok": true' in result.stdout


def test_torn_write_ahead_log_keeps_every_committed_batch_and_drops_the_torn_one(tmp_path: Path) -> None:
    """A crash in the middle of a commit leaves a partial frame at the end of the WAL. SQLite's
    frame checksums drop that transaction; every batch committed before it is intact."""
    live = tmp_path / "live"
    live.mkdir()
    path = live / "journal.sqlite"
    engine = OrderEngine(demo_reference(), default_venue=SIM)
    journal = SqliteJournal(path)
    committed: list[Event] = []
    for b in range(3):
        batch = [e for i in range(5) for e in order_events(engine, b * 5 + i)]
        journal.append(batch)
        committed += batch
    wal_size_before = (live / "journal.sqlite-wal").stat().st_size
    journal.append([e for i in range(5) for e in order_events(engine, 100 + i)])  # the batch that will tear
    wal = (live / "journal.sqlite-wal").read_bytes()
    assert len(wal) > wal_size_before

    crashed = tmp_path / "crashed"
    crashed.mkdir()
    shutil.copy(path, crashed / "journal.sqlite")
    # The crash image: the WAL cut in the middle of the last batch's frames.
    (crashed / "journal.sqlite-wal").write_bytes(wal[: wal_size_before + (len(wal) - wal_size_before) // 2])
    journal.close()

    oms = build(Config(data_dir=crashed, market_data=False))
    report = oms.recover()
    assert report.last_seq == committed[-1].seq
    assert report.events == len(committed)
    assert verify(oms.journal.records()).ok
    assert len(oms.engine.orders) == 15


def test_a_file_that_is_not_a_journal_is_refused_with_its_path(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "journal.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(JournalError, match=r"journal\.sqlite"):
        build(Config(data_dir=data_dir, market_data=False))
    served = oms_cli("serve", "--data-dir", str(data_dir), "--port", "1")
    assert served.returncode == 1
    assert "cannot open journal" in served.stdout + served.stderr
    assert "Traceback" not in served.stdout + served.stderr
    verified = oms_cli("audit", "verify", "--data-dir", str(data_dir))
    assert verified.returncode == 2 and "Traceback" not in verified.stdout + verified.stderr


def test_a_missing_row_in_the_middle_is_a_sequence_gap(store: Store) -> None:
    config = store.config(market_data=False)
    write_orders(store, batches=2)
    store.delete(7)
    journal = store.journal()
    report = verify(journal.records())
    journal.close()
    assert report.first_bad_seq == 8 and "sequence gap" in report.problem
    with pytest.raises(JournalCorrupt, match="seq 8"):
        build(config).recover()


@pytest.mark.parametrize("tamper", [True, False])
def test_large_journal_chain_is_checked_by_a_second_process(store: Store, monkeypatch: pytest.MonkeyPatch, tamper: bool) -> None:
    """Above PARALLEL_VERIFY_FROM events the chain check runs in `python -m openoms.journal.check`
    beside the replay (on PostgreSQL the hashing runs inside the database); a bad record still
    stops the start and is named."""
    from openoms.service import runtime

    monkeypatch.setattr(runtime, "PARALLEL_VERIFY_FROM", 10)
    config = store.config(market_data=False)
    engine = write_orders(store, batches=3)
    if tamper:
        store.set_hash(17, bytes(32))
        with pytest.raises(JournalCorrupt, match="seq 17 breaks the hash chain"):
            build(config).recover()
    else:
        oms = build(config)
        assert oms.recover().last_seq == engine.seq
        oms.journal.close()


def test_journal_check_command_reports_as_json(store: Store) -> None:
    engine = write_orders(store, batches=1)
    target = store.url or str(store.path)
    ok = subprocess.run([sys.executable, "-m", "openoms.journal.check", target, str(engine.seq)],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and '"ok": true' in ok.stdout
    # "-": the target comes from the environment (how start-up passes a URL with a password)
    short = subprocess.run([sys.executable, "-m", "openoms.journal.check", "-", str(engine.seq + 5)],
                           capture_output=True, text=True, timeout=60, env={**os.environ, "OMS_CHECK_TARGET": target})
    assert '"ok": false' in short.stdout and f"journal ends at seq {engine.seq}" in short.stdout
    assert subprocess.run([sys.executable, "-m", "openoms.journal.check"], capture_output=True, timeout=60).returncode == 2


def test_a_missing_row_is_caught_even_with_the_chain_check_off(store: Store) -> None:
    config = store.config(market_data=False, verify_on_start=False)
    write_orders(store, batches=2)
    store.delete(7)
    with pytest.raises(JournalCorrupt, match="a record is missing"):
        build(config).recover()


def test_verify_on_a_copy_names_the_one_event_edited_in_it(tmp_path: Path) -> None:
    """An auditor copies the journal; someone rewrites one fill in the middle of the copy as a
    well-formed event (a different quantity). `oms audit verify` on the copy names that seq; the
    original still verifies."""
    from openoms.domain import events as ev
    from openoms.journal.codec import decode, encode

    path = tmp_path / "journal.sqlite"
    engine = write_orders(path, batches=3)
    fills = 0
    journal = SqliteJournal(path)
    for batch in range(2):
        filled = []
        for i in range(5):
            order_id = f"O{batch * 5 + i + 1}"
            filled += engine.handle(cmd.VenueFilled(actor=VENUE, route_id=RouteId(f"{order_id}-1"), exec_id=ExecId(f"X{order_id}"),
                                                    last_qty=Decimal(100), last_px=Decimal("100.00")), NOW + 100 + fills)
            fills += 1
        journal.append(filled)
    journal.close()
    copy = tmp_path / "copy.sqlite"
    shutil.copy(path, copy)
    with sqlite3.connect(copy) as conn:
        rows = conn.execute("SELECT seq, payload FROM events ORDER BY seq").fetchall()
        target_seq, payload = next((seq, p) for seq, p in rows[len(rows) // 2:] if isinstance(decode(p), ev.OrderFilled))
        original = decode(payload)
        forged = msgspec.structs.replace(original, last_qty=Decimal(10))
        conn.execute("UPDATE events SET payload = ? WHERE seq = ?", (encode(forged), target_seq))
    assert 1 < target_seq < engine.seq

    result = oms_cli("audit", "verify", "--journal", str(copy), "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["first_bad_seq"] == target_seq and report["last_good_seq"] == target_seq - 1
    assert "edited or corrupted" in report["problem"]
    assert oms_cli("audit", "verify", "--journal", str(path)).returncode == 0
