"""A live FIX 4.4 market-data feed from an external provider, into the consolidated book.

OpenOMS connects as initiator (our FixSession: logon, heartbeats, test requests, sequence
numbers), and after each Logon sends one MarketDataRequest (35=V, snapshot plus updates) per
instrument, so a provider that refuses one instrument (35=Y) refuses only that one. Snapshots
(35=W) and incremental refreshes (35=X) are folded by ``FixMarketDataBook`` into quotes held as
``source``'s market.

Staleness, so routing never uses a dead feed's prices silently:
- on disconnect every instrument of the source is marked stale ("feed disconnected") at once;
- after a reconnect an instrument stays stale until its new snapshot arrives (incrementals
  before it are not applied: they would patch a book we no longer hold);
- while the session is alive the feed vouches for its unchanged quotes (``confirm``), since a
  FIX feed sends only changes; when nothing at all (not even a heartbeat) arrives for
  ``stale_after_ms`` the instruments are marked stale ("silent") until a message arrives;
- an instrument whose request the provider rejects is marked stale with the provider's reason;
- when the provider answers a gap in its messages with a SequenceReset (GapFill or Reset) that
  skips some, incrementals may be lost (the session cannot tell whether the skipped messages
  carried market data): every subscribed instrument is marked stale ("gap filled: N messages
  skipped") and asked for again (unsubscribe, then a new request with a new snapshot).

``on_quote`` is told every quote taken into the book, and ``on_alive`` each tick the session
vouches for the live instruments' quotes (with those quotes), so a reference price store can
keep them as fresh as the feed is (bootstrap wires both for a feed with ``reference = true``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..config import FixMarketDataConfig
from ..fix.codec import FixMessage
from ..fix.initiator import FixInitiator
from ..fix.marketdata import FixMarketDataBook, MDReqID, market_data_request
from ..fix.session import FixSession, SessionIdentity
from ..fix.store import SessionStore
from ..service.ports import Quote
from .consolidated import ConsolidatedBook

log = logging.getLogger("openoms.marketdata.fix")

MARKET_DATA_REQUEST, SNAPSHOT, INCREMENTAL, REQUEST_REJECT = "V", "W", "X", "Y"
MDReqRejReason, Text = 281, 58
# MDReqRejReason(281) values (FIX 4.4).
REJECT_REASONS = {"0": "unknown symbol", "1": "duplicate MDReqID", "2": "insufficient bandwidth",
                  "3": "insufficient permissions", "4": "unsupported SubscriptionRequestType",
                  "5": "unsupported MarketDepth", "6": "unsupported MDUpdateType", "7": "unsupported AggregatedBook",
                  "8": "unsupported MDEntryType", "9": "unsupported TradingSessionID", "A": "unsupported Scope",
                  "B": "unsupported OpenCloseSettlFlag", "C": "unsupported MDImplicitDelete"}
TICK_S = 0.1  # how often heartbeats and silence are checked


@dataclass(slots=True)
class SymbolFeed:
    """Where one instrument's subscription stands (GET-able as ``FixMarketDataFeed.status()``)."""

    state: str = "not subscribed"  # not subscribed, subscribed, live, rejected, stale
    reason: str = ""
    md_req_id: str = ""
    snapshots: int = 0
    increments: int = 0


class FixMarketDataFeed(FixInitiator):
    def __init__(self, settings: FixMarketDataConfig, book: ConsolidatedBook, store: SessionStore,
                 clock_ns: Callable[[], int] = time.time_ns, on_quote: Callable[[str, Quote], None] | None = None,
                 on_alive: Callable[[int, list[Quote]], None] | None = None) -> None:
        # Market data needs no message recovery: a fresh snapshot replaces whatever was missed,
        # so every Logon resets the sequence numbers.
        super().__init__(FixSession(SessionIdentity(settings.sender_comp_id, settings.target_comp_id), store, clock_ns),
                         store, settings.host, settings.port, label=f"FIX market data {settings.source}",
                         reconnect_s=settings.reconnect_s, heartbeat_s=settings.heartbeat_s, reset_on_logon=True,
                         tick_s=TICK_S, clock_ns=clock_ns)
        self.settings = settings
        self.source = settings.source
        self.book = book
        self.on_quote = on_quote
        self.on_alive = on_alive
        self.session.on_logon = self._subscribe
        self.session.on_skipped = self._skipped
        self.md_book = FixMarketDataBook(settings.source)
        self.symbols: dict[str, SymbolFeed] = {symbol: SymbolFeed() for symbol in settings.symbols}
        self._requests: dict[str, str] = {}  # MDReqID -> symbol
        self._n = 0
        self._last_message = 0
        self._silent = False
        self.connects = 0
        self.problems = 0
        for symbol in self.symbols:
            self._stale(symbol, "no snapshot yet")

    def status(self) -> dict[str, object]:
        return {"source": self.source, "logged_on": self.logged_on, "connects": self.connects, "problems": self.problems,
                "symbols": {symbol: {"state": feed.state, "reason": feed.reason, "snapshots": feed.snapshots,
                                     "increments": feed.increments} for symbol, feed in sorted(self.symbols.items())}}

    # --- connection hooks (FixInitiator) -------------------------------------------------------

    def _connected_hook(self) -> None:
        self._last_message = self.clock_ns()
        self._silent = False

    def _received(self) -> None:
        self._last_message = self.clock_ns()
        if self._silent:
            self._silent = False
            log.info("FIX market data %s: messages again", self.source)
            for symbol, feed in self.symbols.items():  # what had a snapshot this session is live again
                if feed.state == "stale" and feed.reason.startswith("silent"):
                    self._live(symbol)

    def _disconnected(self, was_logged_on: bool) -> None:
        self._requests.clear()
        for symbol in self.symbols:
            self._stale(symbol, "feed disconnected")
        if not self._stopping:
            log.warning("FIX market data %s: disconnected; its quotes are stale until it is back", self.source)

    def tick(self) -> None:
        now = self.clock_ns()
        self.session.timer(now)
        self._flush()
        if not self.logged_on:
            return
        if now - self._last_message > self.settings.stale_after_ns:
            if not self._silent:
                self._silent = True
                silent_ms = (now - self._last_message) // 1_000_000
                log.warning("FIX market data %s: nothing received for %d ms; its quotes are stale", self.source, silent_ms)
                for symbol, feed in self.symbols.items():
                    if feed.state == "live":
                        self._stale(symbol, f"silent: nothing received for {silent_ms} ms")
        else:
            self.book.confirm(self.source, now)
            if self.on_alive is not None:
                live = [self.book.venue_quote(symbol, self.source) for symbol, feed in self.symbols.items() if feed.state == "live"]
                self.on_alive(now, [quote for quote in live if quote is not None])

    # --- FIX ----------------------------------------------------------------------------------

    def _subscribe(self) -> None:
        """After each Logon: one snapshot-plus-updates request per instrument."""
        self.connects += 1
        for symbol, feed in self.symbols.items():
            self._request(symbol, feed)
            self._stale(symbol, "subscribed, waiting for its snapshot", state="subscribed")

    def _request(self, symbol: str, feed: SymbolFeed) -> None:
        self._n += 1
        md_req_id = f"{self.source}-{symbol}-{self._n}"
        self._requests[md_req_id] = symbol
        feed.md_req_id = md_req_id
        self.session.send_app(MARKET_DATA_REQUEST, market_data_request(md_req_id, [symbol], self.settings.depth))

    def _skipped(self, count: int) -> None:
        """A gap fill or reset skipped ``count`` messages: the books may have missed incrementals."""
        reason = f"gap filled: {count} messages skipped"
        log.warning("FIX market data %s: %s; asking for new snapshots", self.source, reason)
        for symbol, feed in self.symbols.items():
            if feed.state == "rejected" or not feed.md_req_id:
                continue
            self._requests.pop(feed.md_req_id, None)
            self.session.send_app(MARKET_DATA_REQUEST,
                                  market_data_request(feed.md_req_id, [symbol], self.settings.depth, subscribe=False))
            self._request(symbol, feed)
            self._stale(symbol, reason)

    def _on_message(self, message: FixMessage) -> None:
        kind = message.msg_type
        if kind == REQUEST_REJECT:
            self._rejected(message)
        elif kind in (SNAPSHOT, INCREMENTAL):
            self._market_data(message)
        else:
            log.info("FIX market data %s: ignoring MsgType %s", self.source, kind)

    def _market_data(self, message: FixMessage) -> None:
        now = self.clock_ns()
        snapshot = message.msg_type == SNAPSHOT
        quotes, problems = self.md_book.apply(message, now)
        for problem in problems:
            self.problems += 1
            log.warning("FIX market data %s: seq %s: %s", self.source, message.seq, problem)
        for quote in quotes:
            feed = self.symbols.get(quote.symbol)
            if feed is None:
                continue  # not asked for: not ours to publish
            if snapshot:
                feed.snapshots += 1
                self._live(quote.symbol)
            elif feed.state != "live":
                continue  # an increment to a book whose snapshot we have not had since (re)connecting
            else:
                feed.increments += 1
            self.book.update(self.source, quote)
            if self.on_quote is not None:
                self.on_quote(self.source, quote)
        self.book.confirm(self.source, now)

    def _rejected(self, message: FixMessage) -> None:
        md_req_id = message.get(MDReqID)
        symbol = self._requests.get(md_req_id)
        code = message.get(MDReqRejReason)
        reason = f"request rejected by the provider: {message.get(Text) or REJECT_REASONS.get(code, f'reason {code!r}')}"
        if symbol is None:
            log.warning("FIX market data %s: MarketDataRequestReject for unknown MDReqID %r: %s", self.source, md_req_id, reason)
            return
        log.warning("FIX market data %s: %s: %s", self.source, symbol, reason)
        self._stale(symbol, reason, state="rejected")

    def _stale(self, symbol: str, reason: str, state: str = "stale") -> None:
        feed = self.symbols[symbol]
        feed.state, feed.reason = state, reason
        self.book.mark_stale(self.source, symbol, reason)

    def _live(self, symbol: str) -> None:
        feed = self.symbols[symbol]
        feed.state, feed.reason = "live", ""
        self.book.mark_fresh(self.source, symbol)
