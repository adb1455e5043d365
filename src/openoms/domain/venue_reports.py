"""Venue reports: what a venue says about a route (ack, reject, fill, cancel, replace, expiry,
bust, correction) and what the engine does when a route ends short (route the rest on, or end
the route). Part of the single writer: it runs only inside ``OrderEngine.handle`` and emits
through the engine; the state (orders, routes, executions) stays on the engine.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from . import commands as cmd
from . import events as ev
from .ids import ExecId, RouteId, VenueId
from .lifecycle import TERMINAL, OrdStatus, Pending, next_working
from .order import Order
from .rejects import Reject, RejectCode
from .routing import RoutingQuery
from .values import ZERO, TimeInForce

if TYPE_CHECKING:
    from .engine import OrderEngine


class VenueReports:
    """The engine's venue-report commands and route endings."""

    def __init__(self, engine: OrderEngine) -> None:
        self.engine = engine

    def _reroute(self, order: Order, route_id: RouteId, why: str) -> bool:
        """Route what a finished route left unfilled to venues not tried yet, through the same
        risk checks as the order's venue (replace-style facts: the order already counts in the
        book). Emits RouteEnded and the new routes and returns True, or emits nothing and
        returns False when no venue will take it."""
        engine = self.engine
        route = order.routes[route_id]
        remainder = route.quantity - route.cum_qty
        leaves = order.quantity - order.cum_qty
        if remainder > leaves:
            remainder = leaves
        if engine.router is None or remainder <= ZERO or order.pending is not None or order.working in TERMINAL:
            return False
        instrument = engine._instrument(order)
        strategy = order.routing[-1].strategy if order.routing else ""
        decision = engine.router.route(RoutingQuery(
            order.account, instrument, order.side, remainder, order.ord_type, order.price, order.tif,
            "sor" if strategy == "sor" else "", self._tried_venues(order, route.venue)), engine._now)
        if decision.reject is not None or not decision.allocations:
            return False
        if engine.gate is not None:
            for venue, _ in decision.allocations:
                facts = engine._replace_facts(order, order.quantity, order.price, order.stop_price, venue, order.trader)
                if engine.gate.check(facts, instrument, engine._now).reject is not None:
                    return False
        engine._emit(ev.RouteEnded(seq=engine._next_seq(), ts=engine._now, actor=engine._actor, order_id=order.order_id,
                                   route_id=route_id, reason=why))
        engine._emit_routes(order, decision, (f"re-route of {remainder} left by {route_id} at {route.venue}: {why}",))
        return True

    @staticmethod
    def _tried_venues(order: Order, venue: VenueId) -> frozenset[VenueId]:
        """Venues not to route the order to again: those where a route ended short of its quantity
        (refused or canceled by the venue), so every re-route tries somewhere new and the chain ends.
        A route the OMS canceled for a replace says nothing against its venue."""
        tried = {r.venue for r in order.routes.values() if r.done and r.cum_qty < r.quantity and not r.for_replace}
        tried.add(venue)
        return frozenset(tried)

    def _other_open_route(self, order: Order, route_id: RouteId) -> bool:
        return any(not r.done and r.route_id != route_id for r in order.routes.values())

    def _end_route(self, order: Order, route_id: RouteId, why: str) -> None:
        engine = self.engine
        engine._emit(ev.RouteEnded(seq=engine._next_seq(), ts=engine._now, actor=engine._actor, order_id=order.order_id,
                                   route_id=route_id, reason=why))
        if engine.split_replace.canceled_for_replace(order, route_id):  # however it ended (canceled, refused), the replace may go on
            engine.split_replace.settle(order)

    def _route_order(self, name: str, route_id: RouteId) -> Order | None:
        engine = self.engine
        order = engine.routes.get(route_id)
        if order is None:
            engine._reject(name, Reject(RejectCode.UNEXPECTED_REPORT, f"report for unknown route {route_id!r}", {"route_id": route_id}))
        return order

    def _allowed(self, name: str, order: Order, event_type: type[ev.Event], what: str) -> bool:
        """A venue report that the lifecycle cannot take in the order's status is recorded, not applied."""
        engine = self.engine
        if next_working(order.working, event_type) is not None:
            return True
        engine._reject(name, Reject(RejectCode.UNEXPECTED_REPORT, f"{what} for order {order.order_id} in status {order.working.value}",
                                    {"order_id": order.order_id, "status": order.working.value}),
                       order.order_id, account=order.account)
        return False

    def accepted(self, command: cmd.VenueAccepted) -> None:
        engine = self.engine
        order = self._route_order("VenueAccepted", command.route_id)
        if order is None or not self._allowed("VenueAccepted", order, ev.OrderAcknowledged, "ack"):
            return
        engine._emit(
            ev.OrderAcknowledged(
                seq=engine._next_seq(), ts=engine._now, actor=engine._actor, order_id=order.order_id,
                route_id=command.route_id, venue_order_id=command.venue_order_id,
            )
        )

    def rejected(self, command: cmd.VenueRejected) -> None:
        engine = self.engine
        order = self._route_order("VenueRejected", command.route_id)
        if order is None:
            return
        if engine.router is not None and order.working not in TERMINAL and not order.routes[command.route_id].done:
            why = f"venue rejected: {command.reason.message}"
            if self._reroute(order, command.route_id, why):
                return
            if self._other_open_route(order, command.route_id):
                self._end_route(order, command.route_id, why)
                return
        if order.working is not OrdStatus.PENDING_NEW:
            # A route rejected after fills: the remainder is canceled, the fills stand.
            if self._allowed("VenueRejected", order, ev.OrderCanceled, "reject"):
                engine._emit(ev.OrderCanceled(seq=engine._next_seq(), ts=engine._now, actor=engine._actor, order_id=order.order_id,
                                              route_id=command.route_id, reason=f"venue rejected: {command.reason.message}"))
            return
        engine._emit(ev.OrderRejected(seq=engine._next_seq(), ts=engine._now, actor=engine._actor, order_id=order.order_id,
                                      route_id=command.route_id, reason=command.reason))

    def _check_execution(self, order: Order, quantity: Decimal, price: Decimal) -> Reject | None:
        """An execution's numbers must be real: finite, positive, whole lots, bounded."""
        engine = self.engine
        instrument = engine._instrument(order)
        problem = instrument.check_quantity(quantity) or instrument.check_fill_price(price)
        if problem is None:
            return None
        return Reject(RejectCode.UNEXPECTED_REPORT, f"execution refused: {problem.message}", problem.detail)

    def filled(self, command: cmd.VenueFilled) -> None:
        engine = self.engine
        if command.exec_id in engine.executions:
            return  # the same execution reported twice (resend, reconnect): booked once
        order = self._route_order("VenueFilled", command.route_id)
        if order is None or not self._allowed("VenueFilled", order, ev.OrderFilled, "fill"):
            return
        reason = self._check_execution(order, command.last_qty, command.last_px)
        if reason is not None:
            engine._reject("VenueFilled", reason, order.order_id, account=order.account)
            return
        engine._emit(
            ev.OrderFilled(
                seq=engine._next_seq(), ts=engine._now, actor=engine._actor, order_id=order.order_id,
                route_id=command.route_id, exec_id=command.exec_id, last_qty=command.last_qty,
                last_px=command.last_px, liquidity=command.liquidity,
            )
        )
        if order.replace_cancels and order.pending is Pending.REPLACE:
            engine.split_replace.settle(order)  # a fill that finished a child (or the order) while its replace waits

    def canceled(self, command: cmd.VenueCanceled) -> None:
        engine = self.engine
        order = self._route_order("VenueCanceled", command.route_id)
        if order is None or not self._allowed("VenueCanceled", order, ev.OrderCanceled, "cancel"):
            return
        if engine.split_replace.canceled_for_replace(order, command.route_id):
            if not order.routes[command.route_id].done:
                self._end_route(order, command.route_id, f"canceled for the replace: {command.reason}")
            engine.split_replace.settle(order)
            return
        if order.pending is None and command.route_id in order.replace_leftovers and not order.routes[command.route_id].done:
            # Canceled for a replace another child refused: the replace is answered, so the
            # leaves this cancel uncovered are routed again (not a venue's own cancel to re-route).
            self._end_route(order, command.route_id, f"canceled for the refused replace: {command.reason}")
            if order.working not in TERMINAL:
                engine.split_replace.cover_leaves(order, "replace refused")
            return
        if engine.router is not None and not order.routes[command.route_id].done:
            # A smart-routed order's remainder canceled by its venue (no liquidity left there)
            # is routed on to the venues not tried yet; one route of several just ends.
            if order.pending is None and order.tif is not TimeInForce.FOK and order.routing \
                    and order.routing[-1].strategy == "sor" \
                    and self._reroute(order, command.route_id, f"venue canceled: {command.reason}"):
                return
            if self._other_open_route(order, command.route_id):
                self._end_route(order, command.route_id, f"venue canceled: {command.reason}")
                return
        engine._emit(ev.OrderCanceled(seq=engine._next_seq(), ts=engine._now, actor=engine._actor, order_id=order.order_id,
                                      route_id=command.route_id, reason=command.reason))

    def replaced(self, command: cmd.VenueReplaced) -> None:
        engine = self.engine
        order = self._route_order("VenueReplaced", command.route_id)
        if order is None:
            return
        if order.pending is not Pending.REPLACE or order.pending_cl_ord_id is None:
            engine._reject("VenueReplaced", Reject(RejectCode.UNEXPECTED_REPORT, f"replace confirmed for order {order.order_id} with no pending replace"),
                           order.order_id, account=order.account)
            return
        if not self._allowed("VenueReplaced", order, ev.OrderReplaced, "replace"):
            return
        engine._emit(
            ev.OrderReplaced(
                seq=engine._next_seq(), ts=engine._now, actor=engine._actor, order_id=order.order_id,
                cl_ord_id=order.pending_cl_ord_id, quantity=command.quantity, price=command.price,
                stop_price=command.stop_price,
            )
        )
        engine._deferred_cancel(order)

    def _answer_pending(self, name: str, route_id: RouteId, pending: Pending, reason: Reject) -> None:
        engine = self.engine
        order = self._route_order(name, route_id)
        if order is None:
            return
        if order.pending is not pending or order.pending_cl_ord_id is None:
            engine._reject(name, Reject(RejectCode.UNEXPECTED_REPORT, f"{name} for order {order.order_id} with nothing pending"),
                           order.order_id, account=order.account)
            return
        event_type = ev.CancelRejected if pending is Pending.CANCEL else ev.ReplaceRejected
        engine._emit(event_type(seq=engine._next_seq(), ts=engine._now, actor=engine._actor, order_id=order.order_id,
                                cl_ord_id=order.pending_cl_ord_id, reason=reason))
        if pending is Pending.REPLACE:
            engine._deferred_cancel(order)

    def cancel_rejected(self, command: cmd.VenueCancelRejected) -> None:
        engine = self.engine
        order = engine.routes.get(command.route_id)
        if order is not None and engine.split_replace.canceled_for_replace(order, command.route_id):
            # Filled first (the fill came before this answer): the replace goes on. Still working
            # at a venue that will not cancel it: the replace cannot be done.
            route = order.routes[command.route_id]
            engine.split_replace.settle(order, None if route.done else Reject(
                command.reason.code, f"child route {route.route_id} at {route.venue} could not be canceled: {command.reason.message}"))
            return
        if order is not None and order.pending is None and command.route_id in order.replace_leftovers:
            return  # a cancel sent for a replace already answered (a fill settled it, or another child refused)
        if order is not None and len(order.routes) > 1 and order.pending is Pending.CANCEL and order.working not in TERMINAL:
            # One route of a split order could not be canceled (it filled first): the others answer
            # for the order; once none is open the order cannot trade any more and is canceled.
            if not order.open_routes():
                engine._emit(ev.OrderCanceled(seq=engine._next_seq(), ts=engine._now, actor=engine._actor, order_id=order.order_id,
                                              route_id=command.route_id, reason="canceled: no route left open"))
            return
        self._answer_pending("VenueCancelRejected", command.route_id, Pending.CANCEL, command.reason)

    def replace_rejected(self, command: cmd.VenueReplaceRejected) -> None:
        self._answer_pending("VenueReplaceRejected", command.route_id, Pending.REPLACE, command.reason)

    def expired(self, command: cmd.VenueExpired) -> None:
        engine = self.engine
        order = self._route_order("VenueExpired", command.route_id)
        if order is None or not self._allowed("VenueExpired", order, ev.OrderExpired, "expiry"):
            return
        engine._emit(ev.OrderExpired(seq=engine._next_seq(), ts=engine._now, actor=engine._actor, order_id=order.order_id,
                                     reason="expired at venue"))

    def _trade_order(self, name: str, exec_id: ExecId) -> Order | None:
        engine = self.engine
        order = engine.executions.get(exec_id)
        if order is None or order.executions[exec_id].busted:
            engine._reject(name, Reject(RejectCode.UNEXPECTED_REPORT, f"no live execution {exec_id!r}", {"exec_id": exec_id}))
            return None
        return order

    def busted(self, command: cmd.VenueTradeBusted) -> None:
        engine = self.engine
        order = self._trade_order("VenueTradeBusted", command.exec_id)
        if order is None or not self._allowed("VenueTradeBusted", order, ev.TradeBusted, "bust"):
            return
        engine._emit(ev.TradeBusted(seq=engine._next_seq(), ts=engine._now, actor=engine._actor, order_id=order.order_id,
                                    exec_id=command.exec_id))

    def corrected(self, command: cmd.VenueTradeCorrected) -> None:
        engine = self.engine
        order = self._trade_order("VenueTradeCorrected", command.exec_id)
        if order is None or not self._allowed("VenueTradeCorrected", order, ev.TradeCorrected, "correction"):
            return
        reason = self._check_execution(order, command.last_qty, command.last_px)
        if reason is not None:
            engine._reject("VenueTradeCorrected", reason, order.order_id, account=order.account)
            return
        engine._emit(ev.TradeCorrected(seq=engine._next_seq(), ts=engine._now, actor=engine._actor, order_id=order.order_id,
                                       exec_id=command.exec_id, last_qty=command.last_qty, last_px=command.last_px))
