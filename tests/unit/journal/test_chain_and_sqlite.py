"""The hash-chained journal: in-memory, SQLite (in tmp_path) and PostgreSQL (a fresh schema).

A shared contract runs on all three (append batches, head, records that verify, events, an
order's history by seq); then the durable stores, each test once on SQLite and once on
PostgreSQL (the ``store`` fixture): reopen and continue, tampering and deleted rows are named by
``chain.verify``, a seq mismatch writes nothing, every durability mode round-trips, and a few
hundred random orders replay from the store into an engine identical to the one that wrote them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from builders import ACTOR, VENUE, D, Desk, replay, route_of, snapshot
from openoms.domain import commands as cmd
from openoms.domain import events as ev
from openoms.domain.ids import ExecId, OrderId
from openoms.domain.rejects import Reject, RejectCode
from openoms.domain.values import OrdType, Side, TimeInForce
from openoms.journal.chain import GENESIS, Record, link, verify
from openoms.journal.codec import decode, encode
from openoms.journal.memory import MemoryJournal
from openoms.journal.postgres import PostgresJournal
from openoms.journal.postgres import open_readonly_records as pg_readonly_records
from openoms.journal.sqlite import DURABILITY_MODES, JournalError, SqliteJournal, open_readonly_records
from stores import Store

# --- a small, varied event stream ---------------------------------------------------------------


def scripted_desk() -> Desk:
    """Three orders through acks, fills, a cancel, a replace, a bust and a rejected command."""
    desk = Desk()
    a = desk.submit_ok("100", "230.00", cl_ord_id="A")
    b = desk.submit_ok("1000000", "98.5", symbol="UST-10Y", account="ACC-FI-1", cl_ord_id="B")
    c = desk.submit_ok("2", "6000.25", symbol="ESZ6", side=Side.SELL, tif=TimeInForce.GTC, cl_ord_id="C")
    for oid in (a, b, c):
        desk.ack(oid)
    desk.fill(a, "40", "230.00", exec_id="XA1")
    desk.fill(b, "1000000", "98.4921875", exec_id="XB1")
    desk.cancel(a, "A-C")
    desk.venue_canceled(a)
    desk.replace(c, "C-R", qty="3")
    desk.venue_replaced(c, "3", "6000.25")
    desk.fill(c, "1", "6000.50", exec_id="XC1")
    desk.bust("XB1")
    desk.cancel(a, "A-C2")  # too late: a CommandRejected in a's history
    desk.end_of_day()
    return desk


def batches(events: list[ev.Event], sizes: tuple[int, ...] = (1, 3, 2, 5)) -> Iterator[list[ev.Event]]:
    i = k = 0
    while i < len(events):
        size = sizes[k % len(sizes)]
        yield events[i : i + size]
        i += size
        k += 1


# --- the contract, on both backends -------------------------------------------------------------

AnyJournal = MemoryJournal | SqliteJournal | PostgresJournal


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AnyJournal]:
    j: AnyJournal
    if request.param == "memory":
        j = MemoryJournal()
    else:
        url = str(request.getfixturevalue("pg_url")) if request.param == "postgresql" else ""
        j = Store(request.param, tmp_path, url).journal()
    yield j
    j.close()


def test_contract_empty_journal(journal: AnyJournal) -> None:
    assert journal.head() == (0, GENESIS)
    assert journal.count() == 0
    assert list(journal.records()) == []
    assert list(journal.events()) == []
    assert verify(journal.records()).ok
    journal.append([])
    assert journal.head() == (0, GENESIS)


def test_contract_append_batches_then_chain_verifies_and_events_round_trip(journal: AnyJournal) -> None:
    desk = scripted_desk()
    for batch in batches(desk.events):
        journal.append(batch)
    n = len(desk.events)
    records = list(journal.records())
    assert [r.seq for r in records] == list(range(1, n + 1))
    # each record is linked to the one before, from the genesis hash
    prev = GENESIS
    for record, event in zip(records, desk.events, strict=True):
        assert record.prev_hash == prev
        assert record.payload == encode(event)
        assert record.hash == link(prev, record.payload)
        prev = record.hash
    assert journal.head() == (n, prev)
    assert journal.count() == n
    report = verify(journal.records())
    assert (report.ok, report.checked, report.last_seq, report.first_bad_seq) == (True, n, n, None)
    assert list(journal.events()) == desk.events
    assert list(journal.events(after_seq=n - 3)) == desk.events[-3:]


def test_contract_records_after_seq_verify_from_that_point(journal: AnyJournal) -> None:
    desk = scripted_desk()
    journal.append(desk.events)
    records = list(journal.records())
    k = 7
    tail = list(journal.records(after_seq=k))
    assert [r.seq for r in tail] == [r.seq for r in records[k:]]
    assert tail[0].prev_hash == records[k - 1].hash
    assert verify(tail, expected_prev=records[k - 1].hash, expected_seq=k + 1).ok
    # the tail does not verify from genesis
    bad = verify(journal.records(after_seq=k))
    assert (bad.ok, bad.first_bad_seq) == (False, k + 1)


def test_contract_order_history_by_seqs_is_the_orders_events_in_order(journal: AnyJournal) -> None:
    desk = scripted_desk()
    journal.append(desk.events)
    for oid, order in desk.engine.orders.items():
        expected = [e for e in desk.events if getattr(e, "order_id", None) == oid]
        history = journal.events_at(order.seqs)
        assert history == expected, oid
        assert [e.seq for e in history] == sorted(e.seq for e in history)
    rejected = [e for e in journal.events_at(desk.order("O1").seqs) if isinstance(e, ev.CommandRejected)]
    assert [r.reason.code for r in rejected] == [RejectCode.TOO_LATE]
    assert journal.events_at([]) == []
    assert journal.events_at([10_000]) == []


def test_contract_replay_from_journal_equals_live_engine(journal: AnyJournal) -> None:
    desk = scripted_desk()
    for batch in batches(desk.events):
        journal.append(batch)
    assert snapshot(replay(journal.events())) == snapshot(desk.engine)

# --- durable stores (SQLite and PostgreSQL): persistence ------------------------------------------


def test_stored_when_reopened_then_head_continues_and_whole_chain_verifies(store: Store) -> None:
    desk = scripted_desk()
    half = len(desk.events) // 2
    first = store.journal()
    for batch in batches(desk.events[:half]):
        first.append(batch)
    head = first.head()
    first.close()

    second = store.journal()
    assert second.head() == head
    assert second.count() == half
    for batch in batches(desk.events[half:]):
        second.append(batch)
    assert second.head()[0] == len(desk.events)
    report = verify(second.records())
    assert (report.ok, report.checked) == (True, len(desk.events))
    assert list(second.events()) == desk.events
    second.close()

    # a read-only walk of the store gives the same records
    third = store.journal()
    readonly = pg_readonly_records(store.url) if store.url else open_readonly_records(store.path)
    assert list(readonly) == list(third.records())
    third.close()


def test_sqlite_when_nested_directory_then_created(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "a" / "b" / "j.db")
    journal.append(scripted_desk().events[:2])
    assert journal.count() == 2
    journal.close()


def test_sqlite_when_file_is_not_a_database_then_journal_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(JournalError):
        SqliteJournal(path)


def test_readonly_records_when_missing_file_then_journal_error(tmp_path: Path) -> None:
    with pytest.raises(JournalError):
        list(open_readonly_records(tmp_path / "missing.db"))


@pytest.mark.parametrize("durability", DURABILITY_MODES)
def test_stored_every_durability_mode_round_trips(store: Store, durability: str) -> None:
    desk = scripted_desk()
    journal = store.journal(durability=durability)
    assert journal.durability == durability
    for batch in batches(desk.events):
        journal.append(batch)
    journal.close()
    reopened = store.journal(durability=durability)
    assert list(reopened.events()) == desk.events
    assert verify(reopened.records()).ok
    assert snapshot(replay(reopened.events())) == snapshot(desk.engine)
    reopened.close()


@pytest.mark.parametrize("durability", ["", "full", "GROUP", "none", "memory"])
def test_stored_when_invalid_durability_then_value_error(store: Store, durability: str) -> None:
    with pytest.raises(ValueError, match="durability"):
        store.journal(durability=durability)
    assert not store.path.exists()


# --- durable stores: seq discipline ---------------------------------------------------------------


@pytest.mark.parametrize("durability", DURABILITY_MODES)
@pytest.mark.parametrize("case", ["gap", "repeat", "gap_inside_batch", "restart_at_one"])
def test_stored_when_event_seq_does_not_follow_then_journal_error_and_nothing_written(
    store: Store, durability: str, case: str
) -> None:
    events = scripted_desk().events
    journal = store.journal(durability=durability)
    journal.append(events[:3])
    head = journal.head()
    bad = {
        "gap": [events[4]],
        "repeat": [events[2]],
        "gap_inside_batch": [events[3], events[4], events[6]],
        "restart_at_one": [events[0]],
    }[case]
    with pytest.raises(JournalError, match="seq"):
        journal.append(bad)
    assert journal.head() == head
    assert journal.count() == 3
    assert [r.seq for r in journal.records()] == [1, 2, 3]
    # the journal is still usable with the right next event
    journal.append(events[3:5])
    assert verify(journal.records()).ok
    journal.close()


# --- durable stores: tampering is named by verify -------------------------------------------------


def _filled_journal(store: Store) -> tuple[Desk, int]:
    desk = scripted_desk()
    journal = store.journal()
    for batch in batches(desk.events):
        journal.append(batch)
    journal.close()
    return desk, len(desk.events)


def _verify_store(store: Store) -> tuple[bool, int | None, str, int]:
    journal = store.journal()
    report = verify(journal.records())
    journal.close()
    return report.ok, report.first_bad_seq, report.problem, report.checked


@pytest.mark.parametrize("byte", [0, 7, -1])
def test_stored_when_one_payload_byte_changed_then_verify_names_that_seq(store: Store, byte: int) -> None:
    _filled_journal(store)
    target = 9
    data = bytearray(store.payload(target))
    data[byte] ^= 0x01
    store.set_payload(target, bytes(data))
    ok, first_bad, problem, checked = _verify_store(store)
    assert (ok, first_bad, checked) == (False, target, target - 1)
    assert "hash" in problem


def test_stored_when_payload_replaced_with_valid_other_event_then_verify_names_that_seq(store: Store) -> None:
    """A well-formed forgery (same seq, different quantity) still breaks the chain."""
    desk, _ = _filled_journal(store)
    target = next(e for e in desk.events if isinstance(e, ev.OrderFilled))
    forged = msgspec.structs.replace(target, last_qty=D("39"))
    store.set_payload(target.seq, encode(forged))
    assert decode(encode(forged)).seq == target.seq
    ok, first_bad, _, _ = _verify_store(store)
    assert (ok, first_bad) == (False, target.seq)


def test_stored_when_middle_row_deleted_then_verify_reports_sequence_gap(store: Store) -> None:
    _filled_journal(store)
    store.delete(6)
    ok, first_bad, problem, checked = _verify_store(store)
    assert (ok, first_bad, checked) == (False, 7, 5)
    assert "sequence gap" in problem
    assert "expected 6" in problem


def test_stored_when_last_row_deleted_then_chain_still_verifies_but_head_moves_back(store: Store) -> None:
    """Truncation at the end is not detectable by the chain alone: the head shows it."""
    _, n = _filled_journal(store)
    store.delete(n)
    journal = store.journal()
    assert journal.head()[0] == n - 1
    assert verify(journal.records()).ok
    journal.close()


def test_verify_reports_each_kind_of_break() -> None:
    desk = scripted_desk()
    journal = MemoryJournal()
    journal.append(desk.events[:5])
    good = list(journal.records())
    assert verify(good).ok

    swapped = [good[0], good[2], good[1], *good[3:]]
    report = verify(swapped)
    assert (report.ok, report.first_bad_seq, report.checked, report.last_seq) == (False, 3, 1, 1)
    assert "sequence gap" in report.problem

    wrong_prev = [good[0], Record(2, good[1].payload, bytes(32), good[1].hash), *good[2:]]
    report = verify(wrong_prev)
    assert (report.ok, report.first_bad_seq) == (False, 2)
    assert "prev_hash" in report.problem

    garbage = b"\xc1not msgpack"
    undecodable = [good[0], Record(2, garbage, good[0].hash, link(good[0].hash, garbage))]
    report = verify(undecodable)
    assert (report.ok, report.first_bad_seq) == (False, 2)
    assert "decode" in report.problem

    other_seq = encode(desk.events[3])  # seq 4 stored as record 2, chained correctly
    mislabeled = [good[0], Record(2, other_seq, good[0].hash, link(good[0].hash, other_seq))]
    report = verify(mislabeled)
    assert (report.ok, report.first_bad_seq) == (False, 2)
    assert "payload seq 4" in report.problem


def test_memory_journal_when_tampered_then_verify_names_the_record() -> None:
    desk = scripted_desk()
    journal = MemoryJournal()
    journal.append(desk.events)
    bad = journal.rows[4]
    journal.rows[4] = Record(bad.seq, bad.payload[:-1] + bytes([bad.payload[-1] ^ 1]), bad.prev_hash, bad.hash)
    report = verify(journal.records())
    assert (report.ok, report.first_bad_seq) == (False, 5)


# --- replay equality at scale ---------------------------------------------------------------------


def random_session(seed: int, n_orders: int) -> tuple[Desk, list[list[ev.Event]]]:
    """Hundreds of random orders with acks, partial fills, cancels, replaces, busts and day rolls."""
    rng = random.Random(seed)
    desk = Desk()
    exec_ids: list[str] = []
    symbols = [("AAPL", "ACC-EQ-1", D(1), D("0.01"), D("230.00")), ("AAPL", "ACC-EQ-2", D(1), D("0.01"), D("230.00")),
               ("UST-10Y", "ACC-FI-1", D(1000), D("0.0078125"), D("98.5")), ("ESZ6", "ACC-EQ-1", D(1), D("0.25"), D("6000"))]
    batches_out: list[list[ev.Event]] = []
    for i in range(n_orders):
        symbol, account, lot, tick, base = rng.choice(symbols)
        qty = lot * rng.randint(1, 50)
        ord_type = rng.choice([OrdType.LIMIT, OrdType.LIMIT, OrdType.MARKET])
        price = base + tick * rng.randint(-50, 50) if ord_type is OrdType.LIMIT else None
        events = desk.submit(qty, price, symbol=symbol, account=account, ord_type=ord_type, cl_ord_id=f"K{rng.randint(0, 400)}",
                             side=rng.choice([Side.BUY, Side.SELL]), tif=rng.choice([TimeInForce.DAY, TimeInForce.GTC]))
        batches_out.append(events)
        accepted = [e for e in events if isinstance(e, ev.OrderAccepted)]
        if not accepted:
            continue
        oid = accepted[0].order_id
        order = desk.order(oid)
        if rng.random() < 0.9:
            batches_out.append(desk.ack(oid))
        for _ in range(rng.randint(0, 3)):
            leaves = order.leaves_qty
            if leaves <= 0:
                break
            fill_qty = lot * rng.randint(1, int(leaves / lot))
            exec_id = f"X{len(exec_ids) + 1}"
            exec_ids.append(exec_id)
            batches_out.append(desk.fill(oid, fill_qty, base + tick * rng.randint(-60, 60), exec_id=exec_id))
        roll = rng.random()
        if roll < 0.15:
            batches_out.append(desk.cancel(oid))
            batches_out.append(desk.venue_canceled(oid) if rng.random() < 0.8 else desk.cancel_rejected(oid))
        elif roll < 0.3:
            batches_out.append(desk.replace(oid, f"R{i}", qty=lot * rng.randint(1, 60)))
            batches_out.append(desk.venue_replaced(oid, lot * rng.randint(1, 60), price) if rng.random() < 0.7
                               else desk.replace_rejected(oid))
        if exec_ids and rng.random() < 0.05:
            batches_out.append(desk.bust(rng.choice(exec_ids)))
        if exec_ids and rng.random() < 0.05:
            batches_out.append(desk.correct(rng.choice(exec_ids), rng.randint(1, 10), "230.00"))
        if rng.random() < 0.02:
            batches_out.append(desk.end_of_day())
            desk.next_day()
            batches_out.append(desk.start_of_day())
    return desk, batches_out


@pytest.mark.parametrize("durability", ["group", "relaxed"])
def test_stored_replay_of_hundreds_of_random_orders_equals_live_engine(store: Store, durability: str) -> None:
    desk, command_batches = random_session(seed=20260302, n_orders=300)
    assert len(desk.engine.orders) > 200
    assert any(isinstance(e, ev.TradeBusted) for e in desk.events)
    journal = store.journal(durability=durability)
    for batch in command_batches:  # one batch per command, as the runtime appends them
        journal.append(batch)
    journal.close()

    reopened = store.journal()
    assert reopened.head()[0] == desk.engine.seq
    report = verify(reopened.records())
    assert (report.ok, report.checked) == (True, len(desk.events))
    rebuilt = replay(reopened.events())
    assert snapshot(rebuilt) == snapshot(desk.engine)
    # and every order's history reads back by its seqs
    for oid in list(desk.engine.orders)[::17]:
        expected = [e for e in desk.events if getattr(e, "order_id", None) == oid]
        assert reopened.events_at(rebuilt.orders[OrderId(oid)].seqs) == expected
    reopened.close()


def test_replayed_engine_when_it_continues_then_emits_same_events_as_original() -> None:
    """After replay the engine decides exactly like the original (same ids, seqs, rejections)."""
    original, _ = random_session(seed=7, n_orders=60)
    journal = MemoryJournal()
    journal.append(original.events)
    rebuilt = Desk(engine=replay(journal.events()), now=original.now)
    probes = [
        cmd.SubmitOrder(actor=ACTOR, account="ACC-EQ-1", cl_ord_id="K1", symbol="AAPL", side=Side.BUY,  # type: ignore[arg-type]
                        quantity=D(5), price=D("230.00")),
        cmd.SubmitOrder(actor=ACTOR, account="ACC-EQ-1", cl_ord_id="FRESH", symbol="AAPL", side=Side.BUY,  # type: ignore[arg-type]
                        quantity=D(5), price=D("230.00")),
        cmd.VenueFilled(actor=VENUE, route_id=route_of("O3"), exec_id=ExecId("X1"), last_qty=D(1), last_px=D("230.00")),
        cmd.CancelOrder(actor=ACTOR, order_id=OrderId("O2")),
        cmd.VenueRejected(actor=VENUE, route_id=route_of("O9"), reason=Reject(RejectCode.VENUE_REJECT, "x")),
        cmd.EndOfDay(actor=ACTOR),
    ]
    for probe in probes:
        assert rebuilt.send(probe) == original.send(probe)
    assert snapshot(rebuilt.engine) == snapshot(original.engine)
