"""The latest-quote store."""

from __future__ import annotations

from decimal import Decimal

from openoms.domain.ids import Symbol
from openoms.marketdata.store import MarketDataStore
from openoms.service.ports import Quote


def q(symbol: str, ts: int, bid: str = "1.00") -> Quote:
    one = Decimal(1)
    return Quote(symbol=Symbol(symbol), ts=ts, bid=Decimal(bid), ask=Decimal(bid) + Decimal("0.01"),
                 bid_size=one, ask_size=one, last=Decimal(bid), last_size=one, volume=one)


def test_store_keeps_the_latest_quote_per_symbol() -> None:
    store = MarketDataStore()
    assert store.get("AAPL") is None
    assert store.update(q("AAPL", 1)) and store.update(q("MSFT", 1)) and store.update(q("AAPL", 2, "1.05"))
    latest = store.get("AAPL")
    assert latest is not None and latest.bid == Decimal("1.05")
    assert [x.symbol for x in store.all()] == ["AAPL", "MSFT"]
    assert len(store) == 2 and "MSFT" in store


def test_an_older_quote_does_not_replace_a_newer_one() -> None:
    store = MarketDataStore()
    store.update(q("AAPL", 5, "2.00"))
    assert not store.update(q("AAPL", 4, "1.00"))
    latest = store.get("AAPL")
    assert latest is not None and latest.bid == Decimal("2.00")
