"""Positions: average cost, realized P&L on reduce and flip, multipliers, percent of par, and busts
and corrections that unwind exactly (the same as folding the surviving fills from scratch)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders import D, Desk, replay, snapshot
from openoms.demo import demo_instruments
from openoms.domain.ids import AccountId, ExecId, Symbol
from openoms.domain.instruments import Instrument
from openoms.domain.positions import Position
from openoms.domain.values import Side

INSTRUMENTS = demo_instruments()
AAPL = INSTRUMENTS[Symbol("AAPL")]
ESZ6 = INSTRUMENTS[Symbol("ESZ6")]
UST = INSTRUMENTS[Symbol("UST-10Y")]
OPTION = INSTRUMENTS[Symbol("AAPL261218C00230000")]


def fold(fills: list[tuple[str, str | Decimal, str | Decimal]], instrument: Instrument = AAPL) -> Position:
    position = Position(AccountId("ACC"), instrument.symbol)
    for exec_id, qty, px in fills:
        position.apply_fill(ExecId(exec_id), D(qty), D(px), instrument)
    return position


def state(p: Position) -> tuple[object, ...]:
    return (p.quantity, p.cost, p.realized_pnl, p.bought, p.sold, p.fills, list(p.history))


# --- average cost and realized P&L --------------------------------------------------------------


def test_buys_when_added_then_average_cost_weighted() -> None:
    p = fold([("E1", "100", "10.00"), ("E2", "100", "12.00")])
    assert (p.quantity, p.cost, p.avg_price, p.realized_pnl) == (D(200), D("2200.00"), D(11), D(0))
    assert (p.bought, p.sold, p.fills) == (D(200), D(0), 2)


def test_sell_when_reducing_long_then_realizes_against_average_and_keeps_average() -> None:
    p = fold([("E1", "100", "10.00"), ("E2", "100", "12.00"), ("E3", "-50", "15.00")])
    assert p.realized_pnl == D("200.00")  # 50 * (15 - 11)
    assert (p.quantity, p.avg_price) == (D(150), D(11))
    assert (p.bought, p.sold) == (D(200), D(50))


def test_sell_when_flipping_long_to_short_then_realizes_closed_part_and_opens_at_fill_price() -> None:
    p = fold([("E1", "100", "10.00"), ("E2", "100", "12.00"), ("E3", "-50", "15.00"), ("E4", "-200", "9.00")])
    assert p.realized_pnl == D("200.00") + D(150) * (D("9.00") - D(11))  # 200 - 300
    assert p.realized_pnl == D("-100.00")
    assert (p.quantity, p.cost, p.avg_price) == (D(-50), D("-450.00"), D("9.00"))


def test_buy_when_covering_short_then_realizes_with_short_direction() -> None:
    p = fold([("E1", "-100", "20.00"), ("E2", "40", "18.00")])
    assert p.realized_pnl == D("80.00")  # short 40 covered 2 lower
    assert (p.quantity, p.avg_price) == (D(-60), D("20.00"))
    p.apply_fill(ExecId("E3"), D(100), D("21.00"), AAPL)  # cover 60 at a loss, flip long 40
    assert p.realized_pnl == D("80.00") - D("60.00")
    assert (p.quantity, p.cost) == (D(40), D("840.00"))


def test_position_when_flat_then_zero_cost_and_avg() -> None:
    p = fold([("E1", "100", "10.00"), ("E2", "-100", "10.50")])
    assert (p.quantity, p.cost, p.avg_price, p.realized_pnl) == (D(0), D(0), D(0), D("50.00"))
    assert p.unrealized_pnl(D("99"), AAPL) == 0


def test_round_trip_to_flat_realizes_exact_cash_difference() -> None:
    """Bought 1 @ 100.01 and 2 @ 100.02 (300.05), sold all 3 @ 101 (303): once flat, realized P&L
    must be exactly 303 - 300.05 = 2.95 ("exact in Decimal"), not 2.9499999999999999999999999."""
    p = fold([("E1", "1", "100.01"), ("E2", "2", "100.02"), ("E3", "-3", "101")])
    assert p.realized_pnl == D("2.95")


# --- multiplier and percent of par -----------------------------------------------------------------


def test_future_when_one_point_gain_then_multiplier_applies() -> None:
    p = fold([("E1", "1", "6000.00"), ("E2", "-1", "6001.00")], ESZ6)
    assert p.realized_pnl == D(50)
    short = fold([("E1", "-2", "6001.00"), ("E2", "2", "6000.25")], ESZ6)
    assert short.realized_pnl == D("75.00")  # 2 contracts * 0.75 * 50


def test_future_unrealized_uses_multiplier() -> None:
    p = fold([("E1", "1", "6000.00")], ESZ6)
    assert p.unrealized_pnl(D("6001.25"), ESZ6) == D("62.50")
    assert p.avg_price == D("6000.00")  # price units, not cash


def test_option_multiplier_100() -> None:
    p = fold([("E1", "3", "12.50"), ("E2", "-3", "12.55")], OPTION)
    assert p.realized_pnl == D("15.00")


def test_bond_when_half_point_gain_on_a_million_face_then_5000() -> None:
    p = fold([("E1", "1000000", "98.5"), ("E2", "-1000000", "99")], UST)
    assert p.realized_pnl == D(5000)
    assert UST.notional(D(1000000), D("99.5078125")) == D("995078.125")


def test_bond_unrealized_percent_of_par() -> None:
    p = fold([("E1", "2000000", "98.5")], UST)
    assert p.unrealized_pnl(D("98.5078125"), UST) == D("156.25")  # 1/128 of a point on 2mm face


def test_engine_positions_for_future_and_bond() -> None:
    desk = Desk()
    es = desk.submit_ok("1", "6000.00", symbol="ESZ6")
    desk.fill(es, "1", "6000.00")
    es2 = desk.submit_ok("1", "6001.00", symbol="ESZ6", side=Side.SELL)
    desk.fill(es2, "1", "6001.00")
    bond = desk.submit_ok("1000000", "98.5", symbol="UST-10Y", account="ACC-FI-1")
    desk.fill(bond, "1000000", "98.5")
    bond2 = desk.submit_ok("1000000", "99", symbol="UST-10Y", account="ACC-FI-1", side=Side.SELL)
    desk.fill(bond2, "1000000", "99")
    positions = desk.engine.positions
    assert positions[(AccountId("ACC-EQ-1"), Symbol("ESZ6"))].realized_pnl == D(50)
    assert positions[(AccountId("ACC-FI-1"), Symbol("UST-10Y"))].realized_pnl == D(5000)
    assert positions[(AccountId("ACC-FI-1"), Symbol("UST-10Y"))].quantity == 0


# --- busts and corrections unwind exactly ------------------------------------------------------------


def test_bust_when_middle_fill_then_same_as_fold_without_it() -> None:
    fills = [("E1", "100", "10.00"), ("E2", "-150", "12.00"), ("E3", "80", "11.00"), ("E4", "-30", "13.00")]
    p = fold(fills)
    p.amend_fill(ExecId("E2"), None, AAPL)
    assert state(p) == state(fold([f for f in fills if f[0] != "E2"]))


def test_correction_when_middle_fill_then_same_as_fold_with_corrected_fill() -> None:
    fills = [("E1", "100", "10.00"), ("E2", "-150", "12.00"), ("E3", "80", "11.00")]
    p = fold(fills)
    p.amend_fill(ExecId("E2"), (D(-50), D("12.50")), AAPL)
    assert state(p) == state(fold([("E1", "100", "10.00"), ("E2", "-50", "12.50"), ("E3", "80", "11.00")]))


def test_bust_when_unknown_exec_then_position_unchanged() -> None:
    fills = [("E1", "100", "10.00"), ("E2", "-40", "12.00")]
    p = fold(fills)
    p.amend_fill(ExecId("NOPE"), None, AAPL)
    assert state(p) == state(fold(fills))


def test_engine_bust_and_correction_when_applied_then_position_equals_fresh_fold_of_remaining_fills() -> None:
    desk = Desk()
    buy = desk.submit_ok("300", "230.10")
    desk.fill(buy, "100", "230.01", exec_id="B1")
    desk.fill(buy, "200", "230.02", exec_id="B2")
    sell = desk.submit_ok("250", "230.00", side=Side.SELL)
    desk.fill(sell, "150", "230.50", exec_id="S1")
    desk.fill(sell, "100", "230.40", exec_id="S2")
    desk.bust("B1")
    desk.correct("S1", "120", "230.55")
    p = desk.engine.positions[(AccountId("ACC-EQ-1"), Symbol("AAPL"))]
    expected = fold([("B2", "200", "230.02"), ("S1", "-120", "230.55"), ("S2", "-100", "230.40")])
    assert state(p) == state(expected)
    assert p.quantity == D(-20)  # the bust flipped the book short
    assert snapshot(replay(desk.events)) == snapshot(desk.engine)


# --- properties ----------------------------------------------------------------------------------

signed_qty = st.integers(min_value=-500, max_value=500).filter(bool).map(Decimal)
price = st.integers(min_value=9000, max_value=11000).map(lambda cents: Decimal(cents) / 100)
fill_lists = st.lists(st.tuples(signed_qty, price), min_size=1, max_size=12)
INSTRUMENT_CHOICES = st.sampled_from([AAPL, ESZ6, UST, OPTION])


@settings(max_examples=150, deadline=None)
@given(fills=fill_lists, data=st.data(), instrument=INSTRUMENT_CHOICES)
def test_amend_when_any_fill_busted_or_corrected_then_equals_fresh_fold(
    fills: list[tuple[Decimal, Decimal]], data: st.DataObject, instrument: Instrument
) -> None:
    named = [(f"E{i}", q, p) for i, (q, p) in enumerate(fills)]
    position = fold(named, instrument)  # type: ignore[arg-type]
    index = data.draw(st.integers(0, len(named) - 1), label="amended fill")
    corrected = data.draw(st.none() | st.tuples(signed_qty, price), label="correction")
    exec_id = named[index][0]
    position.amend_fill(ExecId(exec_id), corrected, instrument)
    if corrected is None:
        remaining = named[:index] + named[index + 1 :]
    else:
        remaining = [*named[:index], (exec_id, corrected[0], corrected[1]), *named[index + 1 :]]
    assert state(position) == state(fold(remaining, instrument))  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(fills=fill_lists, instrument=INSTRUMENT_CHOICES)
def test_fold_totals_match_the_fills(fills: list[tuple[Decimal, Decimal]], instrument: Instrument) -> None:
    p = fold([(f"E{i}", q, px) for i, (q, px) in enumerate(fills)], instrument)
    assert p.quantity == sum((q for q, _ in fills), D(0))
    assert p.bought == sum((q for q, _ in fills if q > 0), D(0))
    assert p.sold == -sum((q for q, _ in fills if q < 0), D(0))
    assert p.fills == len(fills)
    # Realized + unrealized at a mark is the cash the fills moved plus the book at the mark. The
    # average price is a quotient, so allow for its 28-digit rounding (exact flat round trips are
    # tested above).
    mark = D("100.00")
    cash = sum((instrument.notional(-q, px) for q, px in fills), D(0)) + instrument.notional(p.quantity, mark)
    total = p.realized_pnl + p.unrealized_pnl(mark, instrument)
    assert abs(total - cash) < D("1E-15")


@pytest.mark.parametrize("instrument", [AAPL, ESZ6, UST, OPTION], ids=lambda i: i.symbol)
def test_notional_is_exact(instrument: Instrument) -> None:
    qty, px = D(3), D("100.0078125") if instrument is UST else D("100.25")
    expected = qty * px * instrument.multiplier / (100 if instrument is UST else 1)
    assert instrument.notional(qty, px) == expected
