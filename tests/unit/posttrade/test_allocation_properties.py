"""Property tests: an allocation never loses a share or a cent, respects lots, and is deterministic."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from openoms.demo import demo_instruments
from openoms.domain.ids import AccountId, Symbol
from openoms.posttrade.allocation import allocate
from openoms.posttrade.events import AllocationLine, AllocationTarget
from openoms.posttrade.fees import FeeSchedule
from openoms.posttrade.money import CENT, cents, split

INSTRUMENTS = demo_instruments()
SCHEDULE = FeeSchedule({"commission.equity.per_unit": "0.005", "commission.bond.bps": "0.5"})
ACCOUNTS = [AccountId(f"A{i}") for i in range(8)]

fills_st = st.lists(st.tuples(st.integers(1, 5000), st.integers(1, 1_000_000)), min_size=1, max_size=6)
weights_st = st.lists(st.integers(1, 1000), min_size=1, max_size=8)


def lines_for(symbol: str, fills: list[tuple[int, int]], weights: list[int], fee_cents: int) -> tuple[list[AllocationLine], list]:
    instrument = INSTRUMENTS[Symbol(symbol)]
    lot = instrument.lot_size
    tick = instrument.tick_size
    executions = [(Decimal(q) * lot, Decimal(p) * tick) for q, p in fills]
    targets = [AllocationTarget(ACCOUNTS[i], quantity=Decimal(w) * lot) for i, w in enumerate(weights)]
    total_wanted = sum((t.quantity for t in targets if t.quantity is not None), Decimal(0))
    filled = sum((q for q, _ in executions), Decimal(0))
    if total_wanted < filled:  # by quantity the request must cover the fill: scale the request up
        targets = [AllocationTarget(t.account, quantity=(t.quantity or Decimal(0)) * (filled // lot + 1)) for t in targets]
    result = allocate("quantity", targets, executions, Decimal(fee_cents) * CENT, instrument, SCHEDULE, True)
    assert not hasattr(result, "code"), result
    assert isinstance(result, list)
    return result, executions


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["AAPL", "UST-10Y"]), fills_st, weights_st, st.integers(-5000, 50_000))
def test_no_share_or_cent_is_lost_and_lots_are_kept(symbol: str, fills: list[tuple[int, int]], weights: list[int],
                                                      fee_cents: int) -> None:
    lines, executions = lines_for(symbol, fills, weights, fee_cents)
    instrument = INSTRUMENTS[Symbol(symbol)]
    assert sum(line.quantity for line in lines) == sum(q for q, _ in executions)
    assert all(line.quantity % instrument.lot_size == 0 and line.quantity > 0 for line in lines)
    value = cents(sum((instrument.notional(q, p) for q, p in executions), Decimal(0)))
    assert sum(line.gross for line in lines) == value
    assert sum(line.fees for line in lines) == Decimal(fee_cents) * CENT
    assert all(line.gross == line.gross.quantize(CENT) for line in lines)
    # Deterministic: the same request gives the same lines.
    again, _ = lines_for(symbol, fills, weights, fee_cents)
    assert again == lines


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**9), weights_st)
def test_split_adds_up_and_each_share_is_within_one_unit_of_its_exact_part(units: int, weights: list[int]) -> None:
    total = Decimal(units)
    shares = split(total, [Decimal(w) for w in weights], Decimal(1))
    assert sum(shares) == total
    for share, weight in zip(shares, weights, strict=True):
        exact = total * weight / sum(weights)
        assert abs(share - exact) < 1


def test_remainder_goes_to_the_largest_fraction_then_to_the_account_listed_first() -> None:
    assert split(Decimal(10), [Decimal(1), Decimal(1), Decimal(1)], Decimal(1)) == [Decimal(4), Decimal(3), Decimal(3)]
    assert split(Decimal(100), [Decimal(1), Decimal(2)], Decimal(1)) == [Decimal(33), Decimal(67)]
    assert split(Decimal("-0.05"), [Decimal(1), Decimal(1)], CENT) == [Decimal("-0.03"), Decimal("-0.02")]
