"""The simulated venue: a VenueGateway over one pure OrderBook per instrument.

It turns book reports into the domain's VenueReport commands and hands them to the ReportSink
synchronously, inside the call that caused them (the caller queues them for the engine). Not
thread-safe: the runtime drives it from one thread, like the engine.

Latency (``latency_s`` > 0, the routing file's ``sim_latency_us``): a request reaches the book
that long after it was sent, and the book's answers reach the engine that long after the book
made them, both scheduled on the event loop (``wire.Wire``). So a fill the market makes while a
cancel or replace is on its way crosses it, as at a real exchange: the venue then answers the
cancel or replace for what is left, or too late. At 0 the venue answers inside the call.

Exec ids and venue order ids carry ``session_id``, which the caller makes unique per process
start, so ids never repeat across restarts even though the counters start again at 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from ...domain.commands import (
    Actor,
    VenueAccepted,
    VenueCanceled,
    VenueCancelRejected,
    VenueFilled,
    VenueRejected,
    VenueReplaced,
    VenueReplaceRejected,
    VenueReport,
)
from ...domain.ids import ExecId, RouteId, Symbol, VenueId, VenueOrderId
from ...domain.instruments import Instrument
from ...domain.rejects import Reject, RejectCode
from ...service.ports import Quote, ReportSink, RouteRequest
from .book import (
    Ack,
    BookReport,
    Canceled,
    CancelReject,
    Fill,
    OrderBook,
    Rejected,
    Replaced,
    ReplaceReject,
)
from .wire import Wire


class SimulatedVenue:
    """Implements ``openoms.service.ports.VenueGateway``; ``on_quote`` feeds it market data."""

    def __init__(
        self,
        venue_id: VenueId,
        instruments: Mapping[Symbol, Instrument],
        report: ReportSink,
        session_id: str,
        latency_s: float = 0.0,
    ) -> None:
        self.venue_id = venue_id
        self.session_id = session_id
        self.latency_s = 0.0
        # Each way of the connection: requests in, reports out (None: at once).
        self._inbound: Wire | None = None
        self._outbound: Wire | None = None
        self._sink = report
        self._report = report
        self.set_latency(latency_s)
        self._books: dict[str, OrderBook] = {symbol: OrderBook(i) for symbol, i in instruments.items()}
        # Which book holds each live route, so cancel/replace need not know the symbol.
        self._route_book: dict[RouteId, OrderBook] = {}
        self._actor = Actor(user=venue_id, source="venue")
        self._exec_prefix = f"{venue_id}-{session_id}-E"
        self._order_prefix = f"{venue_id}-{session_id}-O"
        self._exec_n = 0
        self._order_n = 0
        self._open = True
        # False simulates an outage: new orders are refused (as a gateway with no session would
        # answer), so routing sees the venue down; /health and /ready show it.
        self.connected = True

    # -- VenueGateway ----------------------------------------------------------------------

    def set_latency(self, latency_s: float) -> None:
        """Change the one-way delay (a routing rules change). What is already on its way keeps
        its time and order: a wire that still carries messages is kept, at the new delay."""
        self.latency_s = latency_s
        for name in ("_inbound", "_outbound"):
            wire: Wire | None = getattr(self, name)
            if wire is not None:
                wire.delay_s = latency_s
                if latency_s <= 0 and not wire.in_flight:
                    setattr(self, name, None)
            elif latency_s > 0:
                setattr(self, name, Wire(latency_s))
        self._report = self._delayed(self._sink) if self._outbound is not None else self._sink

    def _delayed(self, report: ReportSink) -> ReportSink:
        def send(command: VenueReport) -> None:
            assert self._outbound is not None
            self._outbound.send(lambda: report(command))

        return send

    def new_order(self, route: RouteRequest) -> None:
        if self._inbound is not None:
            self._inbound.send(lambda: self._new_order(route))
        else:
            self._new_order(route)

    def cancel(self, route_id: RouteId) -> None:
        if self._inbound is not None:
            self._inbound.send(lambda: self._cancel(route_id))
        else:
            self._cancel(route_id)

    def replace(self, route_id: RouteId, quantity: Decimal, price: Decimal | None, stop_price: Decimal | None) -> None:
        if self._inbound is not None:
            self._inbound.send(lambda: self._replace(route_id, quantity, price, stop_price))
        else:
            self._replace(route_id, quantity, price, stop_price)

    def expire(self, route_id: RouteId) -> None:
        """Drop the order silently: the engine has already recorded the expiry."""
        if self._inbound is not None:
            self._inbound.send(lambda: self._expire(route_id))  # behind a new order still on its way
        else:
            self._expire(route_id)

    def _new_order(self, route: RouteRequest) -> None:
        route_id = route.route_id
        if not self.connected:
            self._report(VenueRejected(actor=self._actor, route_id=route_id, reason=Reject(
                RejectCode.VENUE_REJECT, f"venue {self.venue_id} is down", {"venue": self.venue_id})))
            return
        book = self._books.get(route.symbol)
        if book is None:
            self._report(VenueRejected(actor=self._actor, route_id=route_id, reason=Reject(
                RejectCode.UNKNOWN_INSTRUMENT, f"{self.venue_id} does not trade {route.symbol}",
                {"symbol": route.symbol, "venue": self.venue_id})))
            return
        if route_id in self._route_book:  # live in some book: must not be re-bound to this one
            self._report(VenueRejected(actor=self._actor, route_id=route_id, reason=Reject(
                RejectCode.VENUE_REJECT, f"duplicate route id {route_id}", {"route_id": route_id})))
            return
        self._route_book[route_id] = book
        self._emit(book, book.submit(route))

    def _cancel(self, route_id: RouteId) -> None:
        book = self._book_for(route_id)
        if book is None:
            self._report(VenueCancelRejected(actor=self._actor, route_id=route_id, reason=_unknown(route_id)))
            return
        self._emit(book, book.cancel(route_id))

    def _replace(self, route_id: RouteId, quantity: Decimal, price: Decimal | None, stop_price: Decimal | None) -> None:
        book = self._book_for(route_id)
        if book is None:
            self._report(VenueReplaceRejected(actor=self._actor, route_id=route_id, reason=_unknown(route_id)))
            return
        self._emit(book, book.replace(route_id, quantity, price, stop_price))

    def _expire(self, route_id: RouteId) -> None:
        book = self._route_book.pop(route_id, None)
        if book is not None:
            self._emit(book, book.expire(route_id))

    def set_session_open(self, is_open: bool) -> None:
        """Closed: orders are still accepted, canceled and replaced, and rest, but nothing matches
        (market orders are rejected). Reopening does nothing by itself; the next quote matches."""
        self._open = is_open
        for book in self._books.values():
            book.set_open(is_open)

    def restore(self, routes: Sequence[RouteRequest]) -> None:
        """Re-insert routes that were working before a restart (no acks are sent)."""
        for route in routes:
            book = self._books.get(route.symbol)
            if book is None:
                self._report(VenueCanceled(actor=self._actor, route_id=route.route_id,
                                           reason=f"not restorable: {self.venue_id} does not trade {route.symbol}"))
                continue
            if route.route_id in self._route_book:
                continue
            self._route_book[route.route_id] = book
            self._emit(book, book.restore(route))
            if not book.is_live(route.route_id):
                self._route_book.pop(route.route_id, None)

    # -- market data -----------------------------------------------------------------------

    def on_quote(self, quote: Quote) -> None:
        """New market data: resting orders that it crosses fill, stops trigger. Quotes for
        instruments this venue does not trade are ignored."""
        book = self._books.get(quote.symbol)
        if book is not None:
            self._emit(book, book.on_quote(quote))

    @property
    def session_open(self) -> bool:
        return self._open

    def book(self, symbol: str) -> OrderBook | None:
        """The book for ``symbol`` (for inspection; drive it through the venue)."""
        return self._books.get(symbol)

    # -- internals -------------------------------------------------------------------------

    def _book_for(self, route_id: RouteId) -> OrderBook | None:
        book = self._route_book.get(route_id)
        if book is not None:
            return book
        # Finished routes are forgotten here; the book that remembers one answers TOO_LATE.
        for candidate in self._books.values():
            if candidate.knows(route_id):
                return candidate
        return None

    def _emit(self, book: OrderBook, reports: list[BookReport]) -> None:
        report = self._report
        actor = self._actor
        for r in reports:
            # Fills and acks first: they are nearly all the traffic.
            if isinstance(r, Fill):
                self._exec_n += 1
                report(VenueFilled(actor=actor, route_id=r.route_id, exec_id=ExecId(f"{self._exec_prefix}{self._exec_n}"),
                                   last_qty=r.qty, last_px=r.price, liquidity=r.liquidity))
                if not r.leaves:
                    self._route_book.pop(r.route_id, None)
            elif isinstance(r, Ack):
                self._order_n += 1
                report(VenueAccepted(actor=actor, route_id=r.route_id,
                                     venue_order_id=VenueOrderId(f"{self._order_prefix}{self._order_n}")))
            elif isinstance(r, Canceled):
                self._route_book.pop(r.route_id, None)
                report(VenueCanceled(actor=actor, route_id=r.route_id, reason=r.reason))
            elif isinstance(r, Replaced):
                if not r.leaves:
                    self._route_book.pop(r.route_id, None)
                report(VenueReplaced(actor=actor, route_id=r.route_id, quantity=r.quantity, price=r.price,
                                     stop_price=r.stop_price))
            elif isinstance(r, Rejected):
                if not book.is_live(r.route_id):
                    self._route_book.pop(r.route_id, None)
                report(VenueRejected(actor=actor, route_id=r.route_id, reason=r.reason))
            elif isinstance(r, CancelReject):
                report(VenueCancelRejected(actor=actor, route_id=r.route_id, reason=r.reason))
            elif isinstance(r, ReplaceReject):
                report(VenueReplaceRejected(actor=actor, route_id=r.route_id, reason=r.reason))


def _unknown(route_id: RouteId) -> Reject:
    return Reject(RejectCode.UNKNOWN_ORDER, f"unknown route {route_id}", {"route_id": route_id})
