"""Per-venue market data, the NBBO with staleness, CSV replay and the simulated venue markets."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from openoms.demo import DEMO_START_PRICES, demo_instruments
from openoms.domain.ids import Symbol
from openoms.marketdata.consolidated import ConsolidatedBook
from openoms.marketdata.replay import ReplayError, read_quotes, schedule
from openoms.marketdata.simulator import MarketDataSimulator
from openoms.marketdata.venue_feed import VenueQuoteFan
from openoms.routing.venues import DEFAULT_VENUES
from openoms.service.ports import Quote

D = Decimal
S = 1_000_000_000


def q(bid: str, ask: str, ts: int, bid_size: int = 100, ask_size: int = 100, volume: int = 0, halted: bool = False) -> Quote:
    return Quote(symbol=Symbol("AAPL"), ts=ts, bid=D(bid), ask=D(ask), bid_size=D(bid_size), ask_size=D(ask_size),
                 last=D(bid), last_size=D(10), volume=D(volume), halted=halted)


def test_nbbo_when_venues_quote_then_best_of_each_side_with_sizes_summed_at_the_touch() -> None:
    book = ConsolidatedBook()
    book.update("A", q("99.98", "100.02", 1 * S, volume=1000))
    book.update("B", q("99.99", "100.02", 1 * S, ask_size=300, volume=500))
    book.update("C", q("99.99", "100.05", 1 * S, bid_size=50))
    nbbo = book.nbbo("AAPL", 1 * S, 2 * S)
    assert nbbo is not None
    assert (nbbo.bid, nbbo.bid_size, nbbo.bid_venues) == (D("99.99"), D(150), ("B", "C"))
    assert (nbbo.ask, nbbo.ask_size, nbbo.ask_venues) == (D("100.02"), D(400), ("A", "B"))
    assert nbbo.volume == D(1500) and not nbbo.crossed


def test_nbbo_when_a_venue_is_stale_or_halted_then_left_out_and_named() -> None:
    book = ConsolidatedBook()
    book.update("A", q("100.50", "100.60", 0))  # the best bid, but 5 s old
    book.update("B", q("99.99", "100.02", 5 * S))
    book.update("C", q("100.10", "100.20", 5 * S, halted=True))
    nbbo = book.nbbo("AAPL", 5 * S, 2 * S)
    assert nbbo is not None and nbbo.bid == D("99.99") and nbbo.stale == ("A",) and nbbo.halted == ("C",)


def test_nbbo_when_venues_cross_then_crossed_is_reported() -> None:
    book = ConsolidatedBook()
    book.update("A", q("100.05", "100.10", S))
    book.update("B", q("99.90", "100.00", S))
    nbbo = book.nbbo("AAPL", S, S)
    assert nbbo is not None and nbbo.crossed


def test_update_when_older_than_held_then_dropped() -> None:
    book = ConsolidatedBook()
    assert book.update("A", q("100.00", "100.01", 2 * S))
    assert not book.update("A", q("90.00", "90.01", 1 * S))
    assert book.venue_quote("AAPL", "A").bid == D("100.00")  # type: ignore[union-attr]


def test_replay_when_csv_read_then_quotes_in_order_and_paced_by_speed(tmp_path: Path) -> None:
    path = tmp_path / "quotes.csv"
    path.write_text("ts,symbol,venue,bid,bid_size,ask,ask_size,last,last_size,volume\n"
                    f"{1 * S},AAPL,SIM-A,100.00,100,100.02,200,100.01,10,1000\n"
                    f"{3 * S},AAPL,SIM-B,100.01,300,100.03,100,,,\n")
    rows = list(schedule(read_quotes(path), speed=2.0))
    assert [(wait, venue, quote.bid) for wait, venue, quote in rows] == [(0.0, "SIM-A", D("100.00")), (1.0, "SIM-B", D("100.01"))]
    assert [wait for wait, _, _ in schedule(read_quotes(path), speed=0)] == [0.0, 0.0]


@pytest.mark.parametrize(("row", "problem"), [
    ("1,AAPL,SIM-A,100.00,100,,200", "missing ask"),
    ("1,AAPL,SIM-A,abc,100,100.02,200", "column(s) bid do not parse"),
    ("1,AAPL,SIM-A,-1,100,100.02,200", "prices and sizes must be finite"),
])
def test_replay_when_row_is_bad_then_refused_with_file_and_line(tmp_path: Path, row: str, problem: str) -> None:
    path = tmp_path / "quotes.csv"
    path.write_text(f"ts,symbol,venue,bid,bid_size,ask,ask_size\n{row}\n")
    with pytest.raises(ReplayError) as caught:
        list(read_quotes(path))
    assert str(caught.value).startswith(f"{path}:2: {problem}")


def test_venue_fan_when_quote_fanned_then_each_venue_no_better_than_source_and_in_whole_lots() -> None:
    instruments = demo_instruments()
    simulator = MarketDataSimulator(instruments, DEMO_START_PRICES, seed=3)
    fan = VenueQuoteFan(DEFAULT_VENUES, {s: i.tick_size for s, i in instruments.items()},
                        {s: i.lot_size for s, i in instruments.items()}, seed=5)
    for quote in simulator.tick(S):
        fanned = fan.fan(quote)
        assert [spec.venue_id for spec, _ in fanned] == ["SIM-A", "SIM-B", "SIM-C"]
        for _, venue_quote in fanned:
            assert venue_quote.bid <= quote.bid and venue_quote.ask >= quote.ask
            lot = instruments[quote.symbol].lot_size
            assert all(size % lot == 0 and size > 0 for _, size in venue_quote.asks + venue_quote.bids)
