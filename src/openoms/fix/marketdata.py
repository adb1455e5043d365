"""FIX 4.4 market data, sans-I/O: the MarketDataRequest (35=V) body a subscriber sends, and a
per-venue book that folds snapshots (35=W) and incremental refreshes (35=X) into ``Quote``s
for the consolidated book. Problems (a bad number, an unknown action) are returned, not raised:
the feed goes on and the caller logs them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from ..domain.ids import Symbol
from ..service.ports import Quote
from .codec import FixMessage

# Tags of the market-data messages (FIX 4.4 Volume 3).
MDReqID, SubscriptionRequestType, MarketDepth, MDUpdateType = 262, 263, 264, 265
NoMDEntryTypes, NoMDEntries, MDEntryType, MDEntryPx, MDEntrySize = 267, 268, 269, 270, 271
MDUpdateAction, NoRelatedSym, Symbol_, MDEntryPositionNo = 279, 146, 55, 290
BID, OFFER, TRADE, VOLUME = "0", "1", "2", "B"
NEW, CHANGE, DELETE = "0", "1", "2"
DEPTH = 5
ZERO = Decimal(0)


def market_data_request(md_req_id: str, symbols: Sequence[str], depth: int = DEPTH,
                        subscribe: bool = True) -> list[tuple[int, str]]:
    """The body of a 35=V: snapshot plus incremental updates of bids, offers, trades and volume
    (``subscribe=False``: the unsubscribe of the request ``md_req_id``)."""
    body = [(MDReqID, md_req_id), (SubscriptionRequestType, "1" if subscribe else "2"), (MarketDepth, str(depth)), (MDUpdateType, "1"),
            (NoMDEntryTypes, "4"), (MDEntryType, BID), (MDEntryType, OFFER), (MDEntryType, TRADE), (MDEntryType, VOLUME),
            (NoRelatedSym, str(len(symbols)))]
    body += [(Symbol_, symbol) for symbol in symbols]
    return body


@dataclass(slots=True)
class _SymbolBook:
    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)
    last: Decimal = ZERO
    last_size: Decimal = ZERO
    volume: Decimal = ZERO


class FixMarketDataBook:
    """One venue's books, folded from its 35=W and 35=X messages."""

    def __init__(self, venue: str) -> None:
        self.venue = venue
        self._books: dict[str, _SymbolBook] = {}

    def apply(self, message: FixMessage, now: int) -> tuple[list[Quote], list[str]]:
        """The quotes the message changed (one per instrument) and the problems found in it."""
        kind = message.msg_type
        if kind not in ("W", "X"):
            return [], [f"not a market data message: 35={kind}"]
        problems: list[str] = []
        touched: list[str] = []
        snapshot_symbol = message.get(Symbol_)
        if kind == "W":
            if not snapshot_symbol:
                return [], ["snapshot without Symbol(55)"]
            self._books[snapshot_symbol] = _SymbolBook(volume=self._books.get(snapshot_symbol, _SymbolBook()).volume)
            touched.append(snapshot_symbol)
        for entry in _entries(message.pairs, MDEntryType if kind == "W" else MDUpdateAction):
            symbol = entry.get(Symbol_, snapshot_symbol)
            problem = self._apply_entry(symbol, entry, kind == "W")
            if problem is not None:
                problems.append(problem)
            elif symbol not in touched:
                touched.append(symbol)
        return [self._quote(symbol, now) for symbol in touched], problems

    def _apply_entry(self, symbol: str, entry: dict[int, str], snapshot: bool) -> str | None:
        if not symbol:
            return "entry without Symbol(55)"
        action = NEW if snapshot else entry.get(MDUpdateAction, "")
        if action not in (NEW, CHANGE, DELETE):
            return f"{symbol}: unknown MDUpdateAction(279) {action!r}"
        entry_type = entry.get(MDEntryType, "")
        try:
            price = Decimal(entry[MDEntryPx]) if MDEntryPx in entry else None
            size = Decimal(entry[MDEntrySize]) if MDEntrySize in entry else ZERO
        except InvalidOperation:
            return f"{symbol}: a price or size does not parse: {entry}"
        if (price is not None and (not price.is_finite() or price < 0)) or not size.is_finite() or size < 0:
            return f"{symbol}: prices and sizes must be finite and >= 0"
        book = self._books.setdefault(symbol, _SymbolBook())
        if entry_type in (BID, OFFER):
            if price is None:
                return f"{symbol}: a bid or offer without MDEntryPx(270)"
            side = book.bids if entry_type == BID else book.asks
            if action == DELETE or size == ZERO:
                side.pop(price, None)
            else:
                side[price] = size
        elif entry_type == TRADE:
            if price is None:
                return f"{symbol}: a trade without MDEntryPx(270)"
            book.last, book.last_size = price, size
            book.volume += size
        elif entry_type == VOLUME:
            book.volume = size
        else:
            return f"{symbol}: unsupported MDEntryType(269) {entry_type!r}"
        return None

    def _quote(self, symbol: str, now: int) -> Quote:
        book = self._books[symbol]
        bids = tuple(sorted(book.bids.items(), reverse=True)[:DEPTH])
        asks = tuple(sorted(book.asks.items())[:DEPTH])
        return Quote(symbol=Symbol(symbol), ts=now, bid=bids[0][0] if bids else ZERO, ask=asks[0][0] if asks else ZERO,
                     bid_size=bids[0][1] if bids else ZERO, ask_size=asks[0][1] if asks else ZERO,
                     last=book.last, last_size=book.last_size, volume=book.volume, bids=bids, asks=asks)


def _entries(pairs: list[tuple[int, str]], first_tag: int) -> list[dict[int, str]]:
    """The NoMDEntries(268) group: each entry starts with ``first_tag`` (269 in W, 279 in X)."""
    entries: list[dict[int, str]] = []
    inside = False
    for tag, value in pairs:
        if tag == NoMDEntries:
            inside = True
            continue
        if not inside:
            continue
        if tag == first_tag:
            entries.append({})
        if entries and tag != 10:
            entries[-1][tag] = value
    return entries
