"""Order state: the parent order, its routes and executions. ``apply`` only assigns.

Decisions (validation, what happens next) live in ``engine.py``; this module holds what an
order *is* after a sequence of events, so replay rebuilds it exactly and never raises for a
business reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from . import events as ev
from .ids import AccountId, ClientOrderId, ExecId, OrderId, RouteId, Symbol, TraderId, VenueId, VenueOrderId
from .lifecycle import BY_QUANTITY, KEEP, PENDING, TERMINAL, WORKING, OrdStatus, Pending, reported_status
from .values import ZERO, Liquidity, OrdType, Side, TimeInForce


@dataclass(slots=True)
class Execution:
    exec_id: ExecId
    order_id: OrderId
    route_id: RouteId
    quantity: Decimal
    price: Decimal
    liquidity: Liquidity
    ts: int
    seq: int  # the OrderFilled record
    busted: bool = False


@dataclass(slots=True)
class Route:
    route_id: RouteId
    venue: VenueId
    quantity: Decimal
    price: Decimal | None
    venue_order_id: VenueOrderId | None = None
    cum_qty: Decimal = ZERO
    done: bool = False
    for_replace: bool = False  # ended because the OMS canceled it for a replace, not by its venue's choice


class Order:
    __slots__ = (
        "account",
        "cancel_deferred",
        "cl_ord_id",
        "created_ts",
        "cum_qty",
        "executions",
        "expire_at",
        "last_seq",
        "ord_type",
        "order_id",
        "orig_cl_ord_id",
        "parent_id",
        "pending",
        "pending_cl_ord_id",
        "pending_replace",
        "price",
        "px_qty_sum",
        "quantity",
        "reference_price",
        "replace_cancels",
        "replace_leftovers",
        "risk_notional",
        "routes",
        "routing",
        "seqs",
        "side",
        "sign",
        "stop_price",
        "symbol",
        "text",
        "tif",
        "trade_date",
        "trader",
        "updated_ts",
        "working",
    )

    def __init__(self, event: ev.OrderAccepted) -> None:
        self.order_id: OrderId = event.order_id
        self.parent_id: str = event.parent_id  # the execution algorithm that sent it, if any
        self.account: AccountId = event.account
        self.trader: TraderId = event.trader
        self.cl_ord_id: ClientOrderId = event.cl_ord_id
        self.orig_cl_ord_id: ClientOrderId | None = None
        self.symbol: Symbol = event.symbol
        self.side: Side = event.side
        self.sign = event.side.sign  # +1 buy, -1 any sale: how a fill moves the position
        self.quantity: Decimal = event.quantity
        self.ord_type: OrdType = event.ord_type
        self.price: Decimal | None = event.price
        self.stop_price: Decimal | None = event.stop_price
        self.reference_price: Decimal | None = event.reference_price
        self.risk_notional: Decimal = ZERO  # what the engine counts for it in its account's book
        self.tif: TimeInForce = event.tif
        self.expire_at: int | None = event.expire_at
        self.trade_date: str = event.trade_date
        self.working: OrdStatus = OrdStatus.PENDING_NEW
        self.pending: Pending | None = None
        self.pending_cl_ord_id: ClientOrderId | None = None
        # What a pending replace asks for, so it can be re-sent to a venue after a restart.
        self.pending_replace: tuple[Decimal, Decimal | None, Decimal | None] | None = None
        self.cancel_deferred = False  # a kill switch wants it canceled once its pending replace is answered
        # A split order's pending replace: the child routes canceled for it (done: the replace can complete).
        self.replace_cancels: tuple[RouteId, ...] = ()
        # Child routes canceled for a split replace that was answered (refused) before every cancel
        # came back: their late VenueCanceled is still the replace's, not the venue's own cancel.
        self.replace_leftovers: tuple[RouteId, ...] = ()
        self.cum_qty: Decimal = ZERO
        self.px_qty_sum: Decimal = ZERO  # sum of last_qty * last_px over live executions: AvgPx stays exact
        self.routes: dict[RouteId, Route] = {}
        # The router's decisions, with the rule that chose and why (a tuple: most orders have none, and share ``()``).
        self.routing: tuple[ev.RoutingDecided, ...] = ()
        self.executions: dict[ExecId, Execution] = {}
        self.created_ts: int = event.ts
        self.updated_ts: int = event.ts
        self.text: str = ""
        self.last_seq: int = event.seq
        self.seqs: list[int] = [event.seq]  # every journal record about this order: its history by key

    # --- derived views -------------------------------------------------------------------

    @property
    def status(self) -> OrdStatus:
        return reported_status(self.working, self.pending)

    @property
    def is_done(self) -> bool:
        """No further client action possible (Filled, Canceled, Rejected, Expired)."""
        return self.working in TERMINAL

    @property
    def leaves_qty(self) -> Decimal:
        # FIX: LeavesQty is 0 once the order can no longer execute (incl. DoneForDay).
        if self.working in TERMINAL or self.working is OrdStatus.DONE_FOR_DAY:
            return ZERO
        leaves = self.quantity - self.cum_qty
        return leaves if leaves > ZERO else ZERO

    @property
    def working_qty(self) -> Decimal:
        """What this order may still add to its position, for limits: everything not filled
        while it lives (DoneForDay included: it is restated tomorrow), and the larger quantity
        while a replace is pending."""
        if self.working in TERMINAL:
            return ZERO
        quantity = self.quantity
        if self.pending_replace is not None and self.pending_replace[0] > quantity:
            quantity = self.pending_replace[0]
        open_qty = quantity - self.cum_qty
        return open_qty if open_qty > ZERO else ZERO

    @property
    def risk_price(self) -> Decimal:
        """The price account-wide limits value the working quantity at: the limit (or stop)
        price, a market order's far touch when accepted, and the higher of the two prices
        while a replace is pending."""
        price = self.price or self.stop_price or self.reference_price or ZERO
        if self.pending_replace is not None:
            asked = self.pending_replace[1] or self.pending_replace[2] or ZERO
            if asked > price:
                price = asked
        return price

    @property
    def avg_px(self) -> Decimal:
        return self.px_qty_sum / self.cum_qty if self.cum_qty else ZERO

    def by_quantity(self) -> OrdStatus:
        if self.cum_qty <= ZERO:
            return OrdStatus.NEW
        if self.cum_qty >= self.quantity:
            return OrdStatus.FILLED
        return OrdStatus.PARTIALLY_FILLED

    def open_route(self) -> Route | None:
        for route in self.routes.values():
            if not route.done:
                return route
        return None

    def open_routes(self) -> list[Route]:
        return [route for route in self.routes.values() if not route.done]

    # --- evolution -----------------------------------------------------------------------

    def apply(self, event: ev.Event) -> None:
        """Fold one event into the order. Assigns only: decisions were made before the event."""
        kind = type(event)
        specific = _APPLY.get(kind)
        if specific is not None:
            specific(self, event)
        # The lifecycle tables, looked up directly (this runs for every event on replay).
        target = WORKING.get((self.working, kind))
        if target is BY_QUANTITY:
            self.working = self.by_quantity()
        elif target is not None and target is not KEEP:
            self.working = target  # type: ignore[assignment]
        if self.working is OrdStatus.FILLED:
            self._close_routes()
        self.pending = PENDING.get((self.pending, kind), self.pending)
        if self.pending is not Pending.REPLACE:
            self.pending_replace = None
            if self.replace_cancels:
                kept = tuple(r for r in self.replace_leftovers if not self.routes[r].done)
                self.replace_leftovers = kept + tuple(r for r in self.replace_cancels if r not in kept)
                self.replace_cancels = ()
        self.updated_ts = event.ts
        self.last_seq = event.seq
        self.seqs.append(event.seq)

    def _on_filled(self, event: ev.OrderFilled) -> None:
        self._add_execution(event)

    def _on_routed(self, event: ev.OrderRouted) -> None:
        self.routes[event.route_id] = Route(event.route_id, event.venue, event.quantity, event.price)

    def _on_routing_decided(self, event: ev.RoutingDecided) -> None:
        self.routing = (*self.routing, event)

    def _on_route_ended(self, event: ev.RouteEnded) -> None:
        route = self.routes[event.route_id]
        route.done = True
        route.for_replace = event.route_id in self.replace_cancels or event.route_id in self.replace_leftovers

    def _on_acknowledged(self, event: ev.OrderAcknowledged) -> None:
        self.routes[event.route_id].venue_order_id = event.venue_order_id

    def _on_replaced(self, event: ev.OrderReplaced) -> None:
        self.orig_cl_ord_id = self.cl_ord_id
        self.cl_ord_id = event.cl_ord_id
        self.quantity = event.quantity
        self.price = event.price
        self.stop_price = event.stop_price
        self.pending_cl_ord_id = None
        if len(self.routes) > 1:
            return  # a split order: its routes stand as they are; what they do not cover is routed anew
        route = self.open_route()
        if route is not None:
            route.quantity = event.quantity
            route.price = event.price

    def _on_cancel_deferred(self, event: ev.CancelDeferred) -> None:
        self.cancel_deferred = True

    def _on_requested(self, event: ev.CancelRequested | ev.ReplaceRequested) -> None:
        if isinstance(event, ev.CancelRequested):
            self.cancel_deferred = False
        self.pending_cl_ord_id = event.cl_ord_id
        if isinstance(event, ev.ReplaceRequested):
            self.pending_replace = (event.quantity, event.price, event.stop_price)
            self.replace_cancels = event.cancel_routes

    def _on_request_rejected(self, event: ev.CancelRejected | ev.ReplaceRejected) -> None:
        self.pending_cl_ord_id = None
        self.text = event.reason.message

    def _on_canceled(self, event: ev.OrderCanceled) -> None:
        if self.pending is Pending.CANCEL and self.pending_cl_ord_id is not None:
            self.orig_cl_ord_id = self.cl_ord_id
            self.cl_ord_id = self.pending_cl_ord_id
        self.pending_cl_ord_id = None  # a pending replace can no longer happen either
        self.text = event.reason
        self._close_routes()

    def _on_rejected(self, event: ev.OrderRejected) -> None:
        self.text = event.reason.message
        self._close_routes()

    def _on_expired(self, event: ev.OrderExpired) -> None:
        self.text = event.reason
        self.pending_cl_ord_id = None  # a pending request dies with the order
        self._close_routes()

    def _on_busted(self, event: ev.TradeBusted) -> None:
        execution = self.executions[event.exec_id]
        execution.busted = True
        self.cum_qty -= execution.quantity
        self.px_qty_sum -= execution.quantity * execution.price
        self.routes[execution.route_id].cum_qty -= execution.quantity

    def _on_corrected(self, event: ev.TradeCorrected) -> None:
        execution = self.executions[event.exec_id]
        self.cum_qty += event.last_qty - execution.quantity
        self.px_qty_sum += event.last_qty * event.last_px - execution.quantity * execution.price
        self.routes[execution.route_id].cum_qty += event.last_qty - execution.quantity
        execution.quantity = event.last_qty
        execution.price = event.last_px

    def _add_execution(self, event: ev.OrderFilled) -> None:
        self.executions[event.exec_id] = Execution(
            event.exec_id, self.order_id, event.route_id, event.last_qty, event.last_px, event.liquidity, event.ts, event.seq
        )
        self.cum_qty += event.last_qty
        self.px_qty_sum += event.last_qty * event.last_px
        route = self.routes[event.route_id]
        route.cum_qty += event.last_qty
        if route.cum_qty >= route.quantity:
            route.done = True

    def _close_routes(self) -> None:
        for route in self.routes.values():
            route.done = True


# What each event type assigns besides the status (the tables in lifecycle.py do that part).
_APPLY: dict[type[ev.Event], Callable[[Order, Any], None]] = {
    ev.OrderFilled: Order._on_filled,
    ev.OrderRouted: Order._on_routed,
    ev.RoutingDecided: Order._on_routing_decided,
    ev.RouteEnded: Order._on_route_ended,
    ev.OrderAcknowledged: Order._on_acknowledged,
    ev.OrderReplaced: Order._on_replaced,
    ev.CancelRequested: Order._on_requested,
    ev.ReplaceRequested: Order._on_requested,
    ev.CancelRejected: Order._on_request_rejected,
    ev.ReplaceRejected: Order._on_request_rejected,
    ev.OrderCanceled: Order._on_canceled,
    ev.OrderRejected: Order._on_rejected,
    ev.OrderExpired: Order._on_expired,
    ev.TradeBusted: Order._on_busted,
    ev.TradeCorrected: Order._on_corrected,
    ev.CancelDeferred: Order._on_cancel_deferred,
}
