"""A synchronous market for routing tests: the real OrderEngine with the real Router, and real
SimulatedVenues (SIM and SIM-A/B/C) whose reports are fed straight back to the engine, with
what the runtime would send (routes, cancels) dispatched in between. No event loop, no clock."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from builders import ACTOR, T0
from openoms.demo import SIM, demo_reference
from openoms.domain import commands as cmd
from openoms.domain import events as ev
from openoms.domain.engine import OrderEngine
from openoms.domain.gate import PreTradeGate
from openoms.domain.ids import AccountId, ClientOrderId, OrderId, Symbol, VenueId
from openoms.domain.order import Order
from openoms.domain.values import OrdType, Side
from openoms.marketdata.consolidated import ConsolidatedBook
from openoms.routing.router import Router
from openoms.routing.rules import parse
from openoms.routing.venues import DEFAULT_VENUES, VenueHealth
from openoms.service.ports import Quote
from openoms.service.runtime import route_request
from openoms.venues.simulated.venue import SimulatedVenue

D = Decimal
VENUES = [SIM, *(spec.venue_id for spec in DEFAULT_VENUES)]


def quote(asks: list[tuple[str, int]], bids: list[tuple[str, int]] | None = None, ts: int = T0,
          symbol: str = "AAPL") -> Quote:
    ask_levels = tuple((D(p), D(s)) for p, s in asks)
    bid_levels = tuple((D(p), D(s)) for p, s in (bids or [("99.00", 1000)]))
    return Quote(symbol=Symbol(symbol), ts=ts, bid=bid_levels[0][0], ask=ask_levels[0][0], bid_size=bid_levels[0][1],
                 ask_size=ask_levels[0][1], last=bid_levels[0][0], last_size=D(0), volume=D(0), bids=bid_levels,
                 asks=ask_levels)


class Market:
    def __init__(self, quotes: dict[str, Quote], rules: str = "", gate: PreTradeGate | None = None) -> None:
        reference = demo_reference()
        self.reports: deque[cmd.Command] = deque()
        self.venues = {v: SimulatedVenue(VenueId(v), reference.instruments, self.reports.append, "T") for v in VENUES}
        self.book = ConsolidatedBook()
        for venue, q in quotes.items():
            self.book.update(venue, q)
            self.venues[venue].on_quote(q)
        self.reports.clear()
        self.health = VenueHealth()
        rule_set = parse(rules, "rules.toml", reference.instruments, reference.accounts, VENUES)
        self.router = Router(reference.instruments, reference.accounts, DEFAULT_VENUES, [VenueId(v) for v in VENUES],
                             self.health, self.book, 2_000_000_000, rule_set)
        self.engine = OrderEngine(reference, gate=gate, router=self.router)
        self.events: list[ev.Event] = []
        self.now = T0 + 1_000_000
        self.n = 0

    def send(self, command: cmd.Command, cross: Callable[[], None] | None = None) -> list[ev.Event]:
        """Handle one command and everything the venues answer, until quiet; the events it all caused.
        ``cross`` runs after the command is decided and before the venues hear of it: what the
        venues report from it (a fill) reaches the engine first, as if it crossed the request."""
        start = len(self.events)
        pending: deque[cmd.Command] = deque([command])
        while pending:
            events = self.engine.handle(pending.popleft(), self.now)
            self.now += 1000
            self.events.extend(events)
            if cross is not None:
                cross()
                cross = None
            self._dispatch(events)
            pending.extend(self.reports)
            self.reports.clear()
        return self.events[start:]

    def _dispatch(self, events: list[ev.Event]) -> None:
        for event in events:
            if isinstance(event, ev.OrderRouted):
                order = self.engine.orders[event.order_id]
                self.venues[event.venue].new_order(route_request(order, event.route_id, event.quantity, event.price))
            elif isinstance(event, ev.CancelRequested) and event.route_id:
                order = self.engine.orders[event.order_id]
                for route in order.routes.values():
                    if not route.done:
                        self.venues[route.venue].cancel(route.route_id)
            elif isinstance(event, ev.ReplaceRequested):
                order = self.engine.orders[event.order_id]
                if event.route_id:
                    self.venues[order.routes[event.route_id].venue].replace(event.route_id, event.quantity, event.price,
                                                                            event.stop_price)
                for child in event.cancel_routes:
                    self.venues[order.routes[child].venue].cancel(child)

    def submit(self, quantity: int | str, price: str | None = None, route: str = "", side: Side = Side.BUY,
               account: str = "ACC-EQ-1", **fields: Any) -> Order | ev.CommandRejected:
        self.n += 1
        events = self.send(cmd.SubmitOrder(
            actor=ACTOR, account=AccountId(account), cl_ord_id=ClientOrderId(f"C{self.n}"), symbol=Symbol("AAPL"),
            side=side, quantity=D(quantity), ord_type=OrdType.LIMIT if price else OrdType.MARKET,
            price=D(price) if price else None, route=route, **fields))
        accepted = [e for e in events if isinstance(e, ev.OrderAccepted)]
        if not accepted:
            rejected = [e for e in events if isinstance(e, ev.CommandRejected)]
            assert rejected, events
            return rejected[0]
        return self.engine.orders[accepted[0].order_id]

    def cancel(self, order_id: OrderId) -> list[ev.Event]:
        return self.send(cmd.CancelOrder(actor=ACTOR, order_id=order_id))


def fills_by_venue(order: Order) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for execution in order.executions.values():
        venue = order.routes[execution.route_id].venue
        out[venue] = out.get(venue, D(0)) + execution.quantity
    return out
