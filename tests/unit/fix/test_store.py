"""The FIX session store: sent messages and order ownership in batch rows, rows of files written
before batching still read, pruned and reset."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from openoms.fix.store import SessionStore

S, OTHER = "FIX.4.4:OPENOMS->CLIENT", "FIX.4.4:OPENOMS->OTHER"


def legacy_file(path: Path) -> None:
    """Rows as the store wrote them one per message (before batching)."""
    SessionStore(path).close()  # the schema
    db = sqlite3.connect(path)
    db.executemany("INSERT INTO fix_outbound VALUES (?, ?, ?, ?, ?)",
                   [(S, seq, "8", f"T{seq}", f"11=L{seq}\x01".encode()) for seq in (2, 3, 5)])
    db.execute("INSERT INTO fix_order VALUES ('O1', ?)", (S,))
    db.executemany("INSERT INTO fix_cl_ord_id VALUES (?, ?, ?)", [(S, "A", "O1"), (S, "B", "O1")])
    db.commit()
    db.close()


def test_messages_of_many_flushes_and_sessions_come_back_in_order_with_the_old_rows(tmp_path: Path) -> None:
    path = tmp_path / "fix.sqlite"
    legacy_file(path)
    store = SessionStore(path)
    for seq in (6, 7, 9):  # one flush
        store.add_outbound(S, seq, "8", f"T{seq}", f"11=N{seq}\x01".encode())
    store.add_outbound(OTHER, 2, "9", "T", b"11=X\x01")
    store.flush()
    store.add_outbound(S, 10, "8", "T10", b"11=N10\x01")  # left for outbound() to flush
    assert [(seq, body) for seq, _, _, body in store.outbound(S, 3, 9)] == [
        (3, b"11=L3\x01"), (5, b"11=L5\x01"), (6, b"11=N6\x01"), (7, b"11=N7\x01"), (9, b"11=N9\x01")]
    assert [seq for seq, *_ in store.outbound(S, 1, 100)] == [2, 3, 5, 6, 7, 9, 10]
    assert store.outbound(OTHER, 1, 100) == [(2, "9", "T", b"11=X\x01")]
    store.close()
    again = SessionStore(path)
    assert [seq for seq, *_ in again.outbound(S, 8, 10)] == [9, 10]
    again.reset(S)
    again.flush()
    assert again.outbound(S, 1, 100) == [] and len(again.outbound(OTHER, 1, 100)) == 1
    again.close()


def test_pruning_keeps_the_last_messages_across_old_and_new_rows(tmp_path: Path) -> None:
    path = tmp_path / "fix.sqlite"
    legacy_file(path)
    store = SessionStore(path)
    store.keep_sent(S, 3)
    store.add_outbound(S, 6, "8", "T", b"")
    store.flush()  # the first flush prunes what an earlier run left: 2 goes
    assert [seq for seq, *_ in store.outbound(S, 1, 100)] == [3, 5, 6]
    for seq in range(7, 12):
        store.add_outbound(S, seq, "8", "T", b"")
    store.flush()
    assert [seq for seq, *_ in store.outbound(S, 1, 100)] == [9, 10, 11]
    assert sqlite3.connect(path).execute("SELECT count(*) FROM fix_outbound").fetchone() == (0,)  # the old rows are gone
    store.close()


def test_order_ownership_old_rows_then_batches_the_last_word_wins(tmp_path: Path) -> None:
    path = tmp_path / "fix.sqlite"
    legacy_file(path)
    store = SessionStore(path)
    store.add_order("O2", S)
    store.add_cl_ord_id(S, "C", "O2")
    store.flush()
    store.add_cl_ord_id(S, "B", "O2")  # a later word on ClOrdID B
    store.add_order("O3", OTHER)
    store.flush()
    assert sorted(store.orders()) == [("O1", S), ("O2", S), ("O3", OTHER)]
    assert sorted(store.cl_ord_ids()) == [(S, "A", "O1"), (S, "B", "O2"), (S, "C", "O2")]
    store.close()
