"""Ports: what the runtime needs from the outside world, as Protocols wired in bootstrap.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Protocol

import msgspec

from ..domain.commands import VenueReport
from ..domain.events import Event
from ..domain.ids import AccountId, OrderId, RouteId, Symbol, VenueId
from ..domain.values import OrdType, Side, TimeInForce
from ..journal.chain import Record


class Journal(Protocol):
    durability: str

    def head(self) -> tuple[int, bytes]: ...
    def append(self, events: Sequence[Event]) -> None: ...
    def records(self, after_seq: int = 0) -> Iterator[Record]: ...
    def events(self, after_seq: int = 0) -> Iterator[Event]: ...
    def events_at(self, seqs: Sequence[int]) -> list[Event]: ...
    def count(self) -> int: ...
    def close(self) -> None: ...


class RouteRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A child order as a venue sees it. ``cum_qty`` is non-zero only when restoring after a restart."""

    route_id: RouteId
    order_id: OrderId
    account: AccountId
    symbol: Symbol
    side: Side
    quantity: Decimal
    ord_type: OrdType
    price: Decimal | None
    stop_price: Decimal | None
    tif: TimeInForce
    cum_qty: Decimal = Decimal(0)


ReportSink = Callable[[VenueReport], None]


class VenueGateway(Protocol):
    """A venue connection. Calls return at once; the venue answers later through its ReportSink
    with VenueReport commands (ack, fills, cancels, rejects), which go back through the engine."""

    venue_id: VenueId

    def new_order(self, route: RouteRequest) -> None: ...
    def cancel(self, route_id: RouteId) -> None: ...
    def replace(self, route_id: RouteId, quantity: Decimal, price: Decimal | None, stop_price: Decimal | None) -> None: ...
    def expire(self, route_id: RouteId) -> None: ...
    def set_session_open(self, is_open: bool) -> None: ...
    def restore(self, routes: Sequence[RouteRequest]) -> None: ...


class StatusRequests(Protocol):
    """A venue that keeps its own state while the OMS is down (an exchange, a FIX venue), as
    opposed to the in-process simulated venue, which dies with the process and is ``restore``d.

    After a restart the runtime sends it the routes the journal says are open, instead of
    ``restore``. The venue answers through its ReportSink with what the OMS has not seen: the
    executions made while it was down (with their exec ids: the engine books each exec id once,
    so a report sent twice is harmless), acknowledgements, cancels and expiries, and a
    ``VenueRejected`` (UNKNOWN_ORDER) for a route it never received; then it calls ``done``
    (from any thread). New orders are accepted only after every venue has answered and its
    reports are journaled."""

    def request_status(self, routes: Sequence[RouteRequest], done: Callable[[], None]) -> None: ...


class Quote(msgspec.Struct, frozen=True, kw_only=True):
    """Top of book plus depth for one instrument at one moment. Sizes and prices are Decimal."""

    symbol: Symbol
    ts: int
    bid: Decimal
    ask: Decimal
    bid_size: Decimal
    ask_size: Decimal
    last: Decimal
    last_size: Decimal
    volume: Decimal
    bids: tuple[tuple[Decimal, Decimal], ...] = ()  # (price, size) best first, including the top
    asks: tuple[tuple[Decimal, Decimal], ...] = ()
    halted: bool = False
