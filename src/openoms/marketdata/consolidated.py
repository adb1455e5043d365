"""Per-venue market data and the consolidated NBBO, with staleness and crossed-market checks.

``ConsolidatedBook.update(venue, quote)`` is the ingest path (one dict assignment after a
timestamp check, so a feed can push well over 100,000 updates a second in process); the NBBO
is computed when read, over the handful of venues an instrument trades on. Quotes older than
the one held for a venue are dropped, so an out-of-order feed never moves the book backwards.

A live feed that sends only changes (FIX 35=X) vouches for its unchanged quotes by
``confirm(venue, now)`` while its session is alive, so a quiet instrument does not age out; a
feed that loses its session or goes silent ``mark_stale``s its quotes with the reason, and they
are left out (and the reason given) until a fresh snapshot ``mark_fresh``es them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ..service.ports import Quote

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Nbbo:
    """The best bid and offer across fresh venue quotes, and what was left out and why."""

    symbol: str
    bid: Decimal | None
    bid_size: Decimal
    bid_venues: tuple[str, ...]
    ask: Decimal | None
    ask_size: Decimal
    ask_venues: tuple[str, ...]
    last: Decimal | None
    volume: Decimal  # sum of the venues' day volumes
    ts: int  # newest quote time that went into it
    stale: tuple[str, ...] = ()  # venues whose quote is older than the allowed age (left out)
    halted: tuple[str, ...] = ()  # venues halted in the instrument (left out)

    @property
    def crossed(self) -> bool:
        return self.bid is not None and self.ask is not None and self.bid > self.ask

    @property
    def locked(self) -> bool:
        return self.bid is not None and self.bid == self.ask


class ConsolidatedBook:
    __slots__ = ("_as_of", "_by_symbol", "_stale", "updates")

    def __init__(self) -> None:
        self._by_symbol: dict[str, dict[str, Quote]] = {}
        self._as_of: dict[str, int] = {}  # venue -> its live feed vouched for its quotes at this time
        self._stale: dict[tuple[str, str], str] = {}  # (symbol, venue) -> why its quote must not be used
        self.updates = 0

    def confirm(self, venue: str, now: int) -> None:
        """``venue``'s feed is alive at ``now``: its quotes that did not change are still its market."""
        self._as_of[venue] = now

    def mark_stale(self, venue: str, symbol: str, reason: str) -> None:
        self._stale[(symbol, venue)] = reason

    def mark_fresh(self, venue: str, symbol: str) -> None:
        self._stale.pop((symbol, venue), None)

    def stale_reason(self, symbol: str, venue: str) -> str | None:
        """Why ``venue``'s quote in ``symbol`` is marked stale, or None."""
        return self._stale.get((symbol, venue)) if self._stale else None

    def age(self, venue: str, quote: Quote, now: int) -> int:
        """How old ``venue``'s ``quote`` is at ``now``, counting its feed's last confirmation."""
        as_of = self._as_of.get(venue)
        return now - (quote.ts if as_of is None or as_of < quote.ts else as_of)

    def update(self, venue: str, quote: Quote) -> bool:
        """Hold ``quote`` as ``venue``'s market in its instrument; False if it was older than the one held."""
        per_venue = self._by_symbol.get(quote.symbol)
        if per_venue is None:
            per_venue = self._by_symbol[quote.symbol] = {}
        held = per_venue.get(venue)
        if held is not None and quote.ts < held.ts:
            return False
        per_venue[venue] = quote
        self.updates += 1
        return True

    def venue_quote(self, symbol: str, venue: str) -> Quote | None:
        per_venue = self._by_symbol.get(symbol)
        return per_venue.get(venue) if per_venue is not None else None

    def venues(self, symbol: str) -> dict[str, Quote]:
        """Every venue's latest quote in ``symbol`` (a copy)."""
        return dict(self._by_symbol.get(symbol, {}))

    def symbols(self) -> list[str]:
        return sorted(self._by_symbol)

    def nbbo(self, symbol: str, now: int, max_age_ns: int) -> Nbbo | None:
        """The NBBO over venue quotes no older than ``max_age_ns`` at ``now`` (None: no venue quotes)."""
        per_venue = self._by_symbol.get(symbol)
        if not per_venue:
            return None
        bid: Decimal | None = None
        ask: Decimal | None = None
        bid_size = ask_size = volume = ZERO
        bid_venues: list[str] = []
        ask_venues: list[str] = []
        stale: list[str] = []
        halted: list[str] = []
        last: Decimal | None = None
        last_ts = -1
        newest = 0
        for venue, quote in sorted(per_venue.items()):
            volume += quote.volume
            if quote.ts > last_ts and quote.last_size > ZERO:
                last, last_ts = quote.last, quote.ts
            if self.age(venue, quote, now) > max_age_ns or self.stale_reason(symbol, venue) is not None:
                stale.append(venue)
                continue
            if quote.halted:
                halted.append(venue)
                continue
            newest = max(newest, quote.ts)
            if quote.bid_size > ZERO:
                if bid is None or quote.bid > bid:
                    bid, bid_size, bid_venues = quote.bid, quote.bid_size, [venue]
                elif quote.bid == bid:
                    bid_size += quote.bid_size
                    bid_venues.append(venue)
            if quote.ask_size > ZERO:
                if ask is None or quote.ask < ask:
                    ask, ask_size, ask_venues = quote.ask, quote.ask_size, [venue]
                elif quote.ask == ask:
                    ask_size += quote.ask_size
                    ask_venues.append(venue)
        return Nbbo(symbol, bid, bid_size, tuple(bid_venues), ask, ask_size, tuple(ask_venues), last, volume, newest,
                    tuple(stale), tuple(halted))
