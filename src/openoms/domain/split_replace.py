"""Replace of an order split across venues (part of the single writer: it runs only inside
``OrderEngine.handle`` and emits through the engine).

The child routes are never amended one by one (that would be one venue answer per child to
reconcile, and amends lose queue priority at most venues anyway). Instead:
- a quantity-down replace at the same prices cancels whole children, largest unfilled
  first, until what the others still work fits the new leaves: the fewest cancels, and the
  smaller children keep their place in the queue; what a cancel takes beyond the reduction
  is routed again once the cancels are done;
- a price change or a quantity-up cancels every unfilled child and routes the new leaves
  through the router again (the SOR re-prices them on the market of the moment).
The client's order is PendingReplace until the canceled children are done (canceled, or
filled first); then it is Replaced with the new terms and its uncovered leaves routed. If
fills that crossed the replace leave it filled at or above the new quantity, or the
children still working above the new leaves, the replace is rejected as too late and the
order goes on at its old terms (what the cancels took is routed again).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from . import events as ev
from .ids import ClientOrderId, RouteId
from .lifecycle import TERMINAL, Pending
from .order import Order
from .rejects import Reject, RejectCode
from .routing import RoutingQuery
from .values import ZERO

if TYPE_CHECKING:
    from .engine import OrderEngine


class SplitReplace:
    """The engine's replace of a split order; the state (routes, pending replace) stays on the order."""

    def __init__(self, engine: OrderEngine) -> None:
        self.engine = engine

    def replace(self, order: Order, cl_ord_id: ClientOrderId, quantity: Decimal, price: Decimal | None,
                stop_price: Decimal | None) -> None:
        engine = self.engine
        open_routes = [r for r in order.routes.values() if not r.done and r.quantity > r.cum_qty]
        if price != order.price or stop_price != order.stop_price or quantity > order.quantity:
            cancels = [r.route_id for r in open_routes]
        else:
            cancels = []
            keep = sum((r.quantity - r.cum_qty for r in open_routes), ZERO)
            allowed = quantity - order.cum_qty
            # Largest unfilled first; the later route first on a tie (it has the least queue time).
            for route in sorted(open_routes, key=lambda r: (r.quantity - r.cum_qty, len(r.route_id), r.route_id), reverse=True):
                if keep <= allowed:
                    break
                cancels.append(route.route_id)
                keep -= route.quantity - route.cum_qty
        kept = sum((r.quantity - r.cum_qty for r in open_routes if r.route_id not in cancels), ZERO)
        refusal = self.route_check(order, quantity - order.cum_qty - kept, quantity, price, stop_price)
        if refusal is not None:
            # Refused before any child is canceled: the order goes on untouched, rather than be
            # Replaced with leaves no venue works (or canceled after "Replaced").
            engine._reject("ReplaceOrder", refusal, order.order_id, cl_ord_id, order.account)
            return
        engine._emit(ev.ReplaceRequested(
            seq=engine._next_seq(), ts=engine._now, actor=engine._actor, order_id=order.order_id, cl_ord_id=cl_ord_id,
            route_id=None, quantity=quantity, price=price, stop_price=stop_price,
            market_price=engine.gate.market_price(order.symbol) if engine.gate is not None else None,
            cancel_routes=tuple(cancels)))
        self.settle(order)

    def route_check(self, order: Order, uncovered: Decimal, quantity: Decimal, price: Decimal | None,
                    stop_price: Decimal | None) -> Reject | None:
        """Whether the router and the risk gate would place ``uncovered`` of the order with the given
        terms now (the dry run of what the replace routes once its cancels are done)."""
        engine = self.engine
        if uncovered <= ZERO or engine.router is None:
            return None
        instrument = engine._instrument(order)
        strategy = order.routing[-1].strategy if order.routing else ""
        decision = engine.router.route(RoutingQuery(
            order.account, instrument, order.side, uncovered, order.ord_type, price, order.tif,
            "sor" if strategy == "sor" else ""), engine._now)
        if decision.reject is not None:
            return Reject(decision.reject.code, f"no venue takes the {uncovered} the replace leaves to route: "
                          f"{decision.reject.message}", decision.reject.detail)
        if not decision.allocations:
            return Reject(RejectCode.NO_ROUTE, f"no venue takes the {uncovered} the replace leaves to route",
                          {"order_id": order.order_id})
        if engine.gate is not None:
            for venue, _ in decision.allocations:
                facts = engine._replace_facts(order, quantity, price, stop_price, venue, order.trader)
                refusal = engine.gate.check(facts, instrument, engine._now).reject
                if refusal is not None:
                    return refusal
        return None

    def canceled_for_replace(self, order: Order, route_id: RouteId) -> bool:
        """Whether ``route_id`` is a child route canceled for the order's pending replace."""
        return order.pending is Pending.REPLACE and route_id in order.replace_cancels

    def settle(self, order: Order, refused: Reject | None = None) -> None:
        """Complete a split order's pending replace once every child canceled for it is done."""
        engine = self.engine
        if order.pending is not Pending.REPLACE or len(order.routes) <= 1 or order.pending_replace is None:
            return
        if refused is None and any(not order.routes[r].done for r in order.replace_cancels):
            return  # still waiting for a venue
        cl_ord_id = order.pending_cl_ord_id
        assert cl_ord_id is not None
        quantity, price, stop_price = order.pending_replace
        working = sum((r.quantity - r.cum_qty for r in order.routes.values() if not r.done), ZERO)
        why = refused.message if refused is not None else ""
        if not why and order.working in TERMINAL:
            why = f"too late: the order is {order.working.value}"
        elif not why and order.cum_qty >= quantity:
            why = f"too late: {order.cum_qty} filled while the replace was on its way, not below the new quantity {quantity}"
        elif not why and working > quantity - order.cum_qty:
            why = (f"too late: fills crossed the replace and the venues still work {working}, "
                   f"above the {quantity - order.cum_qty} the new quantity leaves")
        if why:
            code = refused.code if refused is not None else RejectCode.TOO_LATE
            engine._emit(ev.ReplaceRejected(seq=engine._next_seq(), ts=engine._now, actor=engine._actor, order_id=order.order_id,
                                            cl_ord_id=cl_ord_id, reason=Reject(code, why, {"order_id": order.order_id})))
        else:
            engine._emit(ev.OrderReplaced(seq=engine._next_seq(), ts=engine._now, actor=engine._actor, order_id=order.order_id,
                                          cl_ord_id=cl_ord_id, quantity=quantity, price=price, stop_price=stop_price))
        if order.working not in TERMINAL:
            self.cover_leaves(order, "replace" if not why else "replace refused")
        engine._deferred_cancel(order)

    def cover_leaves(self, order: Order, what: str) -> None:
        """Route what the order's open routes do not cover (after a split replace) through the router."""
        engine = self.engine
        working = sum((r.quantity - r.cum_qty for r in order.routes.values() if not r.done), ZERO)
        uncovered = order.leaves_qty - working
        if uncovered <= ZERO or engine.router is None:
            return
        instrument = engine._instrument(order)
        strategy = order.routing[-1].strategy if order.routing else ""
        decision = engine.router.route(RoutingQuery(
            order.account, instrument, order.side, uncovered, order.ord_type, order.price, order.tif,
            "sor" if strategy == "sor" else ""), engine._now)
        problem = decision.reject.message if decision.reject is not None else ""
        if not problem and engine.gate is not None:
            for venue, _ in decision.allocations:
                facts = engine._replace_facts(order, order.quantity, order.price, order.stop_price, venue, order.trader)
                refusal = engine.gate.check(facts, instrument, engine._now).reject
                if refusal is not None:
                    problem = refusal.message
                    break
        if not problem and decision.allocations:
            engine._emit_routes(order, decision, (f"after the {what}: {uncovered} not covered by the open routes",))
        elif order.open_routes():
            # The open routes go on; the audit must show that the rest found no venue.
            engine._emit(ev.RoutingDecided(seq=engine._next_seq(), ts=engine._now, actor=engine._actor, order_id=order.order_id,
                                           rule=decision.rule, strategy=strategy, allocations=(),
                                           notes=(f"after the {what}, no venue takes the {uncovered} not covered by the "
                                                  f"open routes: {problem or 'no allocation'}",)))
        else:
            engine._emit(ev.OrderCanceled(seq=engine._next_seq(), ts=engine._now, actor=engine._actor, order_id=order.order_id,
                                          route_id=RouteId(""), reason=f"after the {what}, no venue takes the {uncovered} left: "
                                          f"{problem or 'no allocation'}"))
