"""The quote simulator: deterministic for a seed, tick-aligned, positive, lot-sized, consistent."""

from __future__ import annotations

from decimal import Decimal

import pytest

from openoms.demo import DEMO_START_PRICES, demo_instruments
from openoms.domain.ids import Symbol
from openoms.domain.instruments import AssetClass, Instrument
from openoms.marketdata.simulator import MarketDataSimulator
from openoms.service.ports import Quote

D = Decimal
INSTRUMENTS = demo_instruments()


def run(seed: int = 7, ticks: int = 200, **kwargs: float) -> list[Quote]:
    sim = MarketDataSimulator(INSTRUMENTS, DEMO_START_PRICES, seed=seed, **kwargs)
    return [q for n in range(1, ticks + 1) for q in sim.tick(n * 1_000_000)]


def test_same_seed_gives_the_same_quotes() -> None:
    assert run(seed=11) == run(seed=11)


def test_different_seeds_give_different_quotes() -> None:
    assert run(seed=1, ticks=20) != run(seed=2, ticks=20)


def test_every_tick_quotes_every_instrument_once_with_the_given_timestamp() -> None:
    sim = MarketDataSimulator(INSTRUMENTS, DEMO_START_PRICES)
    quotes = sim.tick(123)
    assert sorted(q.symbol for q in quotes) == sorted(INSTRUMENTS)
    assert {q.ts for q in quotes} == {123}


def test_all_prices_are_tick_aligned_positive_decimals() -> None:
    for q in run(ticks=300):
        tick = INSTRUMENTS[q.symbol].tick_size
        prices = [q.bid, q.ask, q.last, *(p for p, _ in q.bids), *(p for p, _ in q.asks)]
        for price in prices:
            assert isinstance(price, Decimal)
            assert price > 0, q
            assert price % tick == 0, (q.symbol, price)


def test_book_shape_spread_depth_and_last_inside_the_spread() -> None:
    for q in run(ticks=300):
        tick = INSTRUMENTS[q.symbol].tick_size
        assert 1 <= (q.ask - q.bid) / tick <= 3
        assert len(q.bids) == len(q.asks) == 5
        assert (q.bids[0], q.asks[0]) == ((q.bid, q.bid_size), (q.ask, q.ask_size))
        assert [p for p, _ in q.bids] == sorted((p for p, _ in q.bids), reverse=True)
        assert [p for p, _ in q.asks] == sorted(p for p, _ in q.asks)
        assert q.bid <= q.last <= q.ask
        assert not q.halted


SIZE_RANGES = {
    AssetClass.EQUITY: (D(100), D(2000), D(100)),
    AssetClass.BOND: (D(1_000_000), D(10_000_000), D(1_000_000)),
    AssetClass.FUTURE: (D(5), D(200), D(1)),
    AssetClass.OPTION: (D(5), D(200), D(1)),
}


def test_sizes_are_whole_lots_within_the_asset_class_range() -> None:
    for q in run(ticks=100):
        instrument = INSTRUMENTS[q.symbol]
        low, high, step = SIZE_RANGES[instrument.asset_class]
        for size in [q.last_size, *(s for _, s in q.bids), *(s for _, s in q.asks)]:
            assert low <= size <= high and size % step == 0 and size % instrument.lot_size == 0, (q.symbol, size)


def test_volume_accumulates_the_last_trade_sizes() -> None:
    sim = MarketDataSimulator(INSTRUMENTS, DEMO_START_PRICES)
    before = sim.quote("AAPL").volume
    quotes = [next(q for q in sim.tick(n) if q.symbol == "AAPL") for n in range(1, 11)]
    assert quotes[-1].volume == before + sum(q.last_size for q in quotes)


def test_prices_are_clamped_a_few_ticks_above_zero() -> None:
    penny = Instrument(Symbol("PENNY"), AssetClass.EQUITY, "USD", D("0.01"), D(1))
    sim = MarketDataSimulator({penny.symbol: penny}, {"PENNY": D("0.02")}, seed=3)
    for n in range(500):
        [q] = sim.tick(n)
        assert q.bids[-1][0] >= D("0.01")
        assert q.last > 0


def test_off_tick_start_price_is_rounded_to_the_tick() -> None:
    sim = MarketDataSimulator(INSTRUMENTS, {**DEMO_START_PRICES, "ESZ6": D("6000.10")})
    assert sim.quote("ESZ6").bid % D("0.25") == 0


def test_quote_returns_the_latest_quote() -> None:
    sim = MarketDataSimulator(INSTRUMENTS, DEMO_START_PRICES)
    assert sim.quote("AAPL").ts == 0  # an opening quote exists before the first tick
    latest = {q.symbol: q for q in sim.tick(42)}
    assert sim.quote("UST-10Y") == latest[Symbol("UST-10Y")]
    with pytest.raises(KeyError):
        sim.quote("NOPE")


def test_halt_probability_marks_quotes_halted() -> None:
    assert all(q.halted for q in run(ticks=5, halt_probability=1.0))
    some = run(ticks=200, halt_probability=0.1)
    assert 0 < sum(q.halted for q in some) < len(some)


def test_missing_start_price_is_an_error() -> None:
    with pytest.raises(ValueError, match="AAPL"):
        MarketDataSimulator(INSTRUMENTS, {k: v for k, v in DEMO_START_PRICES.items() if k != "AAPL"})
