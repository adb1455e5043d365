"""A trading day end to end through the engine and the post-trade book: orders, fills, trades,
allocation to three accounts, settlement instructions with dates and net amounts, settled; P&L
against a calculation done here; a bust reverses P&L and the allocation; replay rebuilds it all."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from builders import VENUE, only_rejection
from openoms.domain import commands as cmd
from openoms.domain import events as ev
from openoms.domain.ids import AccountId, ExecId, OrderId, Symbol
from openoms.domain.rejects import RejectCode
from openoms.domain.values import Liquidity, Side
from openoms.posttrade import commands as pc
from openoms.posttrade import events as pe
from openoms.posttrade.book import PostTradeBook
from openoms.posttrade.reports import positions
from openoms.risk.fx import FxRates
from posttrade_desk import OPS, allocate, posttrade_desk, quantities, weights

D = Decimal
# Thursday 2026-07-02 15:00 UTC: T+1 is Monday 6 July, because Friday 3 July is Independence Day (observed).
THURSDAY = int(datetime(2026, 7, 2, 15, 0, tzinfo=UTC).timestamp()) * 1_000_000_000


def test_a_block_is_filled_allocated_to_three_accounts_instructed_and_settled() -> None:
    desk, book = posttrade_desk()
    desk.now = THURSDAY
    oid = desk.submit_ok("1000", "230.10")
    desk.ack(oid)
    desk.fill(oid, "400", "230.00", exec_id="X1", liquidity=Liquidity.ADDED)
    desk.fill(oid, "350", "230.05", exec_id="X2")
    desk.fill(oid, "250", "230.10", exec_id="X3")

    # Trades: one per execution, venue and liquidity kept, fees by the demo schedule.
    trade = book.trades[ExecId("X1")]
    assert (trade.venue, trade.liquidity, trade.fees, trade.commission) == ("SIM", Liquidity.ADDED, D("-0.80"), D("2.00"))
    assert book.trades[ExecId("X2")].fees == D("1.05")  # 350 * 0.0030 taker fee

    events = allocate(desk, [oid], "weight", weights(ACC_EQ_1="0.5", ACC_EQ_2="0.3", ACC_FI_1="0.2"))
    booked = events[0]
    assert isinstance(booked, pe.AllocationBooked)
    assert booked.avg_price == D("230.0425")  # (400*230.00 + 350*230.05 + 250*230.10) / 1000
    assert [(line.account, line.quantity, line.gross) for line in booked.lines] == [
        ("ACC-EQ-1", D(500), D("115021.25")), ("ACC-EQ-2", D(300), D("69012.75")), ("ACC-FI-1", D(200), D("46008.50"))]
    # Fees (-0.80 + 1.05 + 0.75 = 1.00) are split by quantity to the cent; commission 0.005/share, min 1.00.
    assert [line.fees for line in booked.lines] == [D("0.50"), D("0.30"), D("0.20")]
    assert [line.commission for line in booked.lines] == [D("2.50"), D("1.50"), D("1.00")]
    # The positions moved to the three accounts; the block account holds nothing.
    held = {(lg.account, lg.symbol): lg.position.quantity for lg in book.position_ledgers() if lg.position.quantity}
    assert held == {("ACC-EQ-1", "AAPL"): D(500), ("ACC-EQ-2", "AAPL"): D(300), ("ACC-FI-1", "AAPL"): D(200)}

    instructed = desk.send(pc.InstructSettlement(actor=OPS))[0]
    assert isinstance(instructed, pe.SettlementInstructed)
    first = instructed.instructions[0]
    assert (first.direction, first.trade_date, first.settlement_date) == ("RVP", "2026-07-02", "2026-07-06")
    assert first.net_money == D("115021.25") + D("2.50") + D("0.50")
    assert first.ssi.depository == "DTCYUS33"
    for instruction in instructed.instructions:
        for status in ("instructed", "matched", "settled"):
            assert not [e for e in desk.send(pc.UpdateSettlementStatus(
                actor=OPS, instruction_id=instruction.instruction_id, status=status)) if isinstance(e, ev.CommandRejected)]
    assert {s.status for s in book.instructions.values()} == {"settled"}

    # P&L, computed here independently: marked at 231.00, each account gains qty * (231 - 230.0425).
    rows = {r["account"]: r for r in positions(book, lambda s: D("231.00"), FxRates())}
    assert D(rows["ACC-EQ-1"]["unrealized_pnl"]) == D(500) * (D("231.00") - D("230.0425"))
    assert D(rows["ACC-FI-1"]["unrealized_pnl"]) == D(200) * (D("231.00") - D("230.0425"))

    # Replay through the journal codec rebuilds the same book.
    rebuilt = rebuild(desk.events)
    assert rebuilt.allocations.keys() == book.allocations.keys()
    assert {k: (v.position.quantity, v.position.cost) for k, v in rebuilt.ledgers.items()} == \
           {k: (v.position.quantity, v.position.cost) for k, v in book.ledgers.items()}


def rebuild(events: list[ev.Event]) -> PostTradeBook:
    from openoms.demo import demo_reference
    from openoms.domain.engine import OrderEngine
    from openoms.journal.codec import decode, encode
    from openoms.posttrade import setup_file

    reference = demo_reference()
    engine = OrderEngine(reference)
    book = PostTradeBook(reference, engine.orders, setup_file.demo().calendars)
    engine.extend(book)
    for event in events:
        engine.apply(decode(encode(event)))
    return book


def test_a_bust_after_allocation_reverses_the_allocation_and_the_pnl() -> None:
    desk, book = posttrade_desk()
    buy = desk.submit_ok("300", "100.00", symbol="MSFT")
    desk.ack(buy)
    desk.fill(buy, "100", "100.00", exec_id="B1")
    desk.fill(buy, "200", "101.00", exec_id="B2")
    sell = desk.submit_ok("100", "105.00", symbol="MSFT", side=Side.SELL)
    desk.ack(sell)
    desk.fill(sell, "100", "105.00", exec_id="S1")
    # The account bought 300 at 100.666.. and sold 100 at 105: realized 100 * (105 - 302/3).
    ledger = book.ledgers[(AccountId("ACC-EQ-1"), Symbol("MSFT"))]
    before = ledger.position.realized_pnl
    assert abs(before - D(100) * (D(105) - D(302) / D(3))) < D("1E-20")

    booked = allocate(desk, [buy], "quantity", quantities(ACC_EQ_2="100", ACC_FI_1="200"))[0]
    assert isinstance(booked, pe.AllocationBooked)
    desk.send(pc.InstructSettlement(actor=OPS))
    # The buy moved out: the sale now leaves ACC-EQ-1 short 100 with nothing realized.
    assert (ledger.position.quantity, ledger.position.realized_pnl) == (D(-100), D(0))

    desk.send(cmd.VenueTradeBusted(actor=VENUE, exec_id=ExecId("B2")))
    allocation = book.allocations["AL1"]
    assert allocation.status == "invalidated"
    assert {s.status for s in book.instructions.values()} == {"canceled"}
    # Exactly as if B2 had never happened and nothing had been allocated: 100 at 100 bought, 100 sold at 105.
    assert (ledger.position.quantity, ledger.position.realized_pnl) == (D(0), D(500))
    assert book.ledgers[(AccountId("ACC-EQ-2"), Symbol("MSFT"))].position.quantity == 0
    # The bust reopened the order (200 left); once it is canceled, what was filled is allocated again.
    desk.cancel(buy)
    desk.venue_canceled(buy)
    again = allocate(desk, [buy], "weight", weights(ACC_EQ_2="1"))[0]
    assert isinstance(again, pe.AllocationBooked) and again.quantity == D(100)


def test_bad_allocations_are_rejected_with_the_reason_and_change_nothing() -> None:
    desk, book = posttrade_desk()
    oid = desk.submit_ok("100", "230.00")
    desk.ack(oid)
    desk.fill(oid, "100", "230.00")
    cases = [
        (quantities(ACC_NOPE="100"), "quantity", RejectCode.UNKNOWN_ACCOUNT, "unknown account"),
        (weights(ACC_EQ_1="0.5", ACC_EQ_2="0.4"), "weight", RejectCode.INVALID_ALLOCATION, "add up to 1"),
        (quantities(ACC_EQ_1="80", ACC_EQ_2="40"), "quantity", RejectCode.INVALID_ALLOCATION, "over-allocation"),
        (quantities(ACC_EQ_1="50", ACC_EQ_2="40"), "quantity", RejectCode.INVALID_ALLOCATION, "under-allocation"),
        (quantities(ACC_EQ_1="50.5", ACC_EQ_2="49.5"), "quantity", RejectCode.INVALID_ALLOCATION, "lot size"),
    ]
    for targets, method, code, words in cases:
        rejected = only_rejection(allocate(desk, [oid], method, targets))
        assert rejected.reason.code is code and words in rejected.reason.message, rejected.reason
    assert book.allocations == {} and book.ledgers[(AccountId("ACC-EQ-1"), Symbol("AAPL"))].position.quantity == 100
    working = desk.submit_ok("100", "230.00")
    assert "still working" in only_rejection(allocate(desk, [working], "weight", weights(ACC_EQ_1="1"))).reason.message
    assert only_rejection(allocate(desk, [OrderId("O404")], "weight", weights(ACC_EQ_1="1"))).reason.code is RejectCode.UNKNOWN_ORDER
