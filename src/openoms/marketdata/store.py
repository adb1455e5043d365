"""The latest quote per symbol, for readers (REST, UI, risk) that want "the market now"."""

from __future__ import annotations

from ..service.ports import Quote


class MarketDataStore:
    """Keeps only the newest Quote per symbol.

    A quote older than the one held (smaller ``ts``) is ignored, so feeds that deliver out of
    order can never move the store backwards. Writes are single dict assignments, which keeps
    readers on other threads safe under the GIL without a lock.
    """

    __slots__ = ("_quotes",)

    def __init__(self) -> None:
        self._quotes: dict[str, Quote] = {}

    def update(self, quote: Quote) -> bool:
        """Store ``quote``; False when it was older than the quote already held (and dropped)."""
        held = self._quotes.get(quote.symbol)
        if held is not None and quote.ts < held.ts:
            return False
        self._quotes[quote.symbol] = quote
        return True

    def get(self, symbol: str) -> Quote | None:
        return self._quotes.get(symbol)

    def all(self) -> list[Quote]:
        """Every held quote, sorted by symbol so listings are stable."""
        return sorted(self._quotes.values(), key=lambda q: q.symbol)

    def __len__(self) -> int:
        return len(self._quotes)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._quotes
