"""FIX market data: the 35=V request, and snapshots and incremental refreshes folded into quotes."""

from __future__ import annotations

from decimal import Decimal

from openoms.fix.codec import FixMessage, encode, parse
from openoms.fix.marketdata import FixMarketDataBook, market_data_request
from openoms.marketdata.consolidated import ConsolidatedBook

D = Decimal
S = 1_000_000_000


def message(msg_type: str, body: list[tuple[int, str]]) -> FixMessage:
    return parse(encode(msg_type, "EXCH", "OPENOMS", 2, "20261126-09:00:00.000", body))


SNAPSHOT = [(55, "AAPL"), (268, "5"),
            (269, "0"), (270, "100.00"), (271, "300"),
            (269, "0"), (270, "99.99"), (271, "500"),
            (269, "1"), (270, "100.02"), (271, "200"),
            (269, "2"), (270, "100.01"), (271, "50"),
            (269, "B"), (271, "120000")]


def test_request_when_built_then_asks_snapshot_and_updates_for_each_symbol() -> None:
    body = market_data_request("MD1", ["AAPL", "MSFT"])
    raw = parse(encode("V", "OPENOMS", "EXCH", 2, "20261126-09:00:00.000", body))
    assert raw.get(262) == "MD1" and raw.get(263) == "1" and raw.get(265) == "1"
    assert [v for t, v in raw.pairs if t == 55] == ["AAPL", "MSFT"]
    assert [v for t, v in raw.pairs if t == 269] == ["0", "1", "2", "B"]


def test_snapshot_then_incremental_when_applied_then_quote_follows_the_book() -> None:
    book = FixMarketDataBook("EXCH")
    quotes, problems = book.apply(message("W", SNAPSHOT), 1 * S)
    assert problems == []
    [quote] = quotes
    assert (quote.bid, quote.bid_size, quote.ask, quote.ask_size) == (D("100.00"), D(300), D("100.02"), D(200))
    assert quote.bids == ((D("100.00"), D(300)), (D("99.99"), D(500))) and quote.volume == D(120000)
    update = [(268, "3"),
              (279, "2"), (269, "0"), (55, "AAPL"), (270, "100.00"),  # the best bid leaves
              (279, "0"), (269, "1"), (55, "AAPL"), (270, "100.01"), (271, "100"),  # a better offer
              (279, "0"), (269, "2"), (55, "AAPL"), (270, "100.01"), (271, "100")]  # a trade
    quotes, problems = book.apply(message("X", update), 2 * S)
    assert problems == []
    [quote] = quotes
    assert (quote.bid, quote.ask, quote.ask_size, quote.last, quote.volume) == (
        D("99.99"), D("100.01"), D(100), D("100.01"), D(120100))
    consolidated = ConsolidatedBook()
    consolidated.update("EXCH", quote)
    nbbo = consolidated.nbbo("AAPL", 2 * S, S)
    assert nbbo is not None and nbbo.ask_venues == ("EXCH",)


def test_bad_entries_when_applied_then_named_and_the_rest_taken() -> None:
    book = FixMarketDataBook("EXCH")
    book.apply(message("W", SNAPSHOT), S)
    update = [(268, "3"),
              (279, "7"), (269, "0"), (55, "AAPL"), (270, "1"),
              (279, "0"), (269, "0"), (55, "AAPL"), (270, "abc"), (271, "1"),
              (279, "0"), (269, "0"), (55, "AAPL"), (270, "100.01"), (271, "10")]
    quotes, problems = book.apply(message("X", update), 2 * S)
    assert problems == ["AAPL: unknown MDUpdateAction(279) '7'", "AAPL: a price or size does not parse: "
                        "{279: '0', 269: '0', 55: 'AAPL', 270: 'abc', 271: '1'}"]
    assert quotes[0].bid == D("100.01")
    assert book.apply(message("D", [(55, "AAPL")]), S)[1] == ["not a market data message: 35=D"]
