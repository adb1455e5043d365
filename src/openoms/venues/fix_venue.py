"""A venue reached over FIX 4.4: OpenOMS connects as initiator, sends each route as a
NewOrderSingle, and turns the venue's ExecutionReports and OrderCancelRejects into the engine's
VenueReport commands (through the ReportSink, like the simulated venue).

The route id is the first ClOrdID; cancels and replaces get ``<route>.C<n>`` / ``<route>.R<n>``.
Disconnects: while the session is down, new orders, cancels and replaces are refused at once
(never left pending); after each Logon every open route is asked about with an
OrderStatusRequest, and the answer settles it (an order the venue no longer knows is booked
canceled or rejected; fills it reports beyond what we had are booked). With
``cancel_on_disconnect`` the venue is trusted to cancel our orders when the session drops, and
they are booked canceled at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from ..config import FixVenueConfig
from ..domain import commands as cmd
from ..domain.ids import ExecId, RouteId, VenueId, VenueOrderId
from ..domain.rejects import Reject, RejectCode
from ..fix import codec
from ..fix import tags as t
from ..fix.codec import FixMessage
from ..fix.initiator import FixInitiator
from ..fix.session import FixSession, SessionIdentity
from ..fix.store import SessionStore
from ..service.ports import ReportSink, RouteRequest

log = logging.getLogger("openoms.venues.fix")

_CXL_REJECT_CODE = {"0": RejectCode.TOO_LATE, "1": RejectCode.UNKNOWN_ORDER, "3": RejectCode.ALREADY_PENDING}


@dataclass(slots=True)
class _Route:
    request: RouteRequest
    cl_ord_id: str  # the venue's current ClOrdID for it
    acked: bool = False
    cum_qty: Decimal = Decimal(0)
    notional: Decimal = Decimal(0)  # sum of fill qty * px reported to the engine
    pending: str | None = None  # the ClOrdID of a cancel or replace in flight
    expiring: bool = False  # the engine expired the order: the venue's cancel answer is not news
    filled: bool = False  # nothing left while a request was in flight: kept until the venue answers that
    unfilled: Decimal = Decimal(0)  # what the venue left unfilled when nothing was left (canceled in the end)
    n: int = 0


class FixVenue(FixInitiator):
    """Implements ``openoms.service.ports.VenueGateway`` over a FIX initiator session."""

    def __init__(self, settings: FixVenueConfig, report: ReportSink, store: SessionStore,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        super().__init__(FixSession(SessionIdentity(settings.sender_comp_id, settings.target_comp_id), store, clock_ns),
                         store, settings.host, settings.port, label=f"FIX venue {settings.venue_id}",
                         reconnect_s=settings.reconnect_s, heartbeat_s=settings.heartbeat_s,
                         reset_on_logon=settings.reset_on_logon, clock_ns=clock_ns)
        self.settings = settings
        self.venue_id = VenueId(settings.venue_id)
        self._report = report
        self.session.on_logon = self._reconcile
        self._actor = cmd.Actor(settings.venue_id, "venue", self.session.key)
        self._routes: dict[RouteId, _Route] = {}
        self._by_cl_ord_id: dict[str, RouteId] = {}

    def _disconnected(self, was_logged_on: bool) -> None:
        log.warning("FIX venue %s: disconnected", self.venue_id)
        if was_logged_on and self.settings.cancel_on_disconnect:
            for route_id, state in list(self._routes.items()):
                self._done(route_id)
                if state.filled:  # nothing left of it at the venue: only its cancel or replace was waiting
                    continue
                self._report(cmd.VenueCanceled(actor=self._actor, route_id=route_id, reason="venue cancels on disconnect"))

    # --- VenueGateway -------------------------------------------------------------------------

    def new_order(self, route: RouteRequest) -> None:
        if not self.logged_on:
            self._report(cmd.VenueRejected(actor=self._actor, route_id=route.route_id, reason=self._not_connected()))
            return
        state = _Route(route, str(route.route_id))
        self._routes[route.route_id] = state
        self._remember(state.cl_ord_id, route.route_id)
        body = [(t.ClOrdID, state.cl_ord_id), (t.Account, route.account), (t.Symbol, route.symbol),
                (t.Side_, t.SIDE_CODE[route.side]), (t.TransactTime, self._now()), (t.OrderQty, _fmt(route.quantity)),
                (t.OrdType_, t.ORD_TYPE_CODE[route.ord_type])]
        if route.price is not None:
            body.append((t.Price, _fmt(route.price)))
        if route.stop_price is not None:
            body.append((t.StopPx, _fmt(route.stop_price)))
        body.append((t.TimeInForce_, t.TIF_CODE[route.tif]))
        self.session.send_app(t.NEW_ORDER_SINGLE, body)
        self._flush()

    def cancel(self, route_id: RouteId) -> None:
        state = self._routes.get(route_id)
        problem = self._amend_problem(state)
        if problem is not None or state is None:
            self._report(cmd.VenueCancelRejected(actor=self._actor, route_id=route_id, reason=problem or self._unknown(route_id)))
            return
        self._send_amend(state, t.ORDER_CANCEL_REQUEST, "C", [])

    def replace(self, route_id: RouteId, quantity: Decimal, price: Decimal | None, stop_price: Decimal | None) -> None:
        state = self._routes.get(route_id)
        problem = self._amend_problem(state)
        if problem is not None or state is None:
            self._report(cmd.VenueReplaceRejected(actor=self._actor, route_id=route_id, reason=problem or self._unknown(route_id)))
            return
        request = state.request
        extra = [(t.OrdType_, t.ORD_TYPE_CODE[request.ord_type]), (t.OrderQty, _fmt(quantity))]
        if price is not None:
            extra.append((t.Price, _fmt(price)))
        if stop_price is not None:
            extra.append((t.StopPx, _fmt(stop_price)))
        self._send_amend(state, t.ORDER_CANCEL_REPLACE_REQUEST, "R", extra)

    def expire(self, route_id: RouteId) -> None:
        state = self._routes.get(route_id)
        if state is None:
            return
        state.expiring = True
        if self.logged_on:
            self._send_amend(state, t.ORDER_CANCEL_REQUEST, "C", [])
        else:
            self._done(route_id)

    def set_session_open(self, is_open: bool) -> None:
        """The venue keeps its own trading hours."""

    def restore(self, routes: Sequence[RouteRequest]) -> None:
        """After a restart: the open routes, settled by status requests once logged on."""
        current = self.store.routes(self.session.key)
        for route in routes:
            state = _Route(route, current.get(route.route_id, str(route.route_id)), acked=True, cum_qty=route.cum_qty)
            self._routes[route.route_id] = state
            self._remember(state.cl_ord_id, route.route_id)

    # --- inbound ------------------------------------------------------------------------------

    def _on_message(self, message: FixMessage) -> None:
        kind = message.msg_type
        try:
            if kind == t.EXECUTION_REPORT:
                self._execution_report(message)
            elif kind == t.ORDER_CANCEL_REJECT:
                self._cancel_reject(message)
            else:
                log.info("FIX venue %s: ignoring MsgType %s", self.venue_id, kind)
        except (KeyError, InvalidOperation, ValueError) as exc:  # a report we cannot read changes nothing
            log.error("FIX venue %s: unreadable report seq %s (%r): %s", self.venue_id, message.seq, exc, message.raw[:200])

    def _route_of(self, message: FixMessage) -> _Route | None:
        fields = message.fields
        for tag in (t.ClOrdID, t.OrigClOrdID):
            route_id = self._by_cl_ord_id.get(fields.get(tag, ""))
            if route_id is not None:
                return self._routes.get(route_id)
        return None

    def _execution_report(self, message: FixMessage) -> None:
        fields = message.fields
        state = self._route_of(message)
        exec_type = fields[t.ExecType]
        if exec_type in ("H", "G"):  # busts and corrections name the execution, which the engine knows
            exec_id = ExecId(f"{self.venue_id}-{fields[t.ExecRefID]}")
            if exec_type == "H":
                self._report(cmd.VenueTradeBusted(actor=self._actor, exec_id=exec_id))
            else:
                self._report(cmd.VenueTradeCorrected(actor=self._actor, exec_id=exec_id, last_qty=Decimal(fields[t.LastQty]),
                                                     last_px=Decimal(fields[t.LastPx])))
            return
        if state is None:
            log.warning("FIX venue %s: report for unknown ClOrdID %r ignored", self.venue_id, fields.get(t.ClOrdID))
            return
        route_id = state.request.route_id
        actor = self._actor
        if exec_type == "0":
            if not state.acked:
                state.acked = True
                self._report(cmd.VenueAccepted(actor=actor, route_id=route_id, venue_order_id=VenueOrderId(fields[t.OrderID])))
        elif exec_type in ("F", "1", "2"):
            self._fill(state, ExecId(f"{self.venue_id}-{fields[t.ExecID]}"), Decimal(fields[t.LastQty]), Decimal(fields[t.LastPx]))
            # Complete: Filled, or nothing left under a Pending Cancel/Replace status (which outranks Filled).
            # Nothing left short of the order's quantity (an IOC's partial fill, OrdStatus Canceled):
            # the rest is canceled, and the engine must hear it or the child stays open for good.
            if fields.get(t.OrdStatus_) == "2" or _nothing_left(fields):
                quantity = Decimal(fields.get(t.OrderQty) or state.request.quantity)
                state.unfilled = max(quantity - state.cum_qty, Decimal(0))
                if state.pending is None:
                    self._done(route_id)
                    self._cancel_unfilled(state)
                else:  # a fill crossed our cancel or replace: its answer (a reject, "too late") must still reach the engine
                    state.filled = True
        elif exec_type == "8":
            self._done(route_id)
            self._report(cmd.VenueRejected(actor=actor, route_id=route_id, reason=Reject(
                RejectCode.VENUE_REJECT, fields.get(t.Text) or f"rejected by {self.venue_id}",
                {"venue": self.venue_id, "ord_rej_reason": fields.get(t.OrdRejReason, "")})))
        elif exec_type == "4":
            requested = state.pending is not None and fields.get(t.ClOrdID) == state.pending
            expiring = state.expiring
            self._done(route_id)
            if not expiring:
                self._report(cmd.VenueCanceled(actor=actor, route_id=route_id,
                                               reason="requested" if requested else fields.get(t.Text) or f"canceled by {self.venue_id}"))
        elif exec_type == "5":
            state.cl_ord_id = fields[t.ClOrdID]
            state.pending = None
            if state.filled or fields.get(t.OrdStatus_) == "2":  # replaced down to what was already filled
                self._done(route_id)
            self.store.set_route(self.session.key, route_id, state.cl_ord_id)
            self._report(cmd.VenueReplaced(actor=actor, route_id=route_id, quantity=Decimal(fields[t.OrderQty]),
                                           price=Decimal(fields[t.Price]) if t.Price in fields else None,
                                           stop_price=Decimal(fields[t.StopPx]) if t.StopPx in fields else None))
            if state.filled:  # replaced after nothing was left: what the new quantity leaves unfilled is not working
                state.unfilled = max(Decimal(fields[t.OrderQty]) - state.cum_qty, Decimal(0))
                self._cancel_unfilled(state)
        elif exec_type == "C":
            self._done(route_id)
            self._report(cmd.VenueExpired(actor=actor, route_id=route_id))
        elif exec_type == "I":
            self._settle(state, message)

    def _fill(self, state: _Route, exec_id: ExecId, quantity: Decimal, price: Decimal) -> None:
        state.acked = True
        state.cum_qty += quantity
        state.notional += quantity * price
        self._report(cmd.VenueFilled(actor=self._actor, route_id=state.request.route_id, exec_id=exec_id,
                                     last_qty=quantity, last_px=price))

    def _settle(self, state: _Route, message: FixMessage) -> None:
        """An OrderStatusRequest's answer after a reconnect: book what we missed."""
        fields = message.fields
        route_id = state.request.route_id
        status = fields.get(t.OrdStatus_, "")
        cum = Decimal(fields.get(t.CumQty) or "0")
        if cum > state.cum_qty:  # fills we never heard of: booked at the price that makes AvgPx right
            missing = cum - state.cum_qty
            avg = Decimal(fields.get(t.AvgPx) or "0")
            price = (avg * cum - state.notional) / missing if avg else Decimal(fields.get(t.Price) or "0")
            self._fill(state, ExecId(f"{self.venue_id}-{fields.get(t.OrderID, route_id)}-R{cum}"), missing, price)
        if status == "0" and not state.acked:
            state.acked = True
            self._report(cmd.VenueAccepted(actor=self._actor, route_id=route_id, venue_order_id=VenueOrderId(fields[t.OrderID])))
        elif status in ("2",):
            self._done(route_id)
        elif status in ("4", "8", "C"):
            self._done(route_id)
            text = fields.get(t.Text) or ""
            if status == "C":
                self._report(cmd.VenueExpired(actor=self._actor, route_id=route_id))
            elif state.acked or state.cum_qty:
                self._report(cmd.VenueCanceled(actor=self._actor, route_id=route_id,
                                               reason=f"{self.venue_id} status after reconnect: {text or 'canceled'}"))
            else:
                self._report(cmd.VenueRejected(actor=self._actor, route_id=route_id, reason=Reject(
                    RejectCode.VENUE_REJECT, f"{self.venue_id} does not know the order after reconnect: {text}".strip(),
                    {"venue": self.venue_id})))

    def _cancel_reject(self, message: FixMessage) -> None:
        fields = message.fields
        state = self._route_of(message)
        if state is None:
            return
        route_id = state.request.route_id
        state.pending = None
        if state.filled:
            self._done(route_id)
        code = _CXL_REJECT_CODE.get(fields.get(t.CxlRejReason, ""), RejectCode.VENUE_REJECT)
        reason = Reject(code, fields.get(t.Text) or f"refused by {self.venue_id}", {"venue": self.venue_id})
        if state.expiring:
            return
        if fields.get(t.CxlRejResponseTo) == "2":
            self._report(cmd.VenueReplaceRejected(actor=self._actor, route_id=route_id, reason=reason))
        else:
            self._report(cmd.VenueCancelRejected(actor=self._actor, route_id=route_id, reason=reason))
        if state.filled:
            self._cancel_unfilled(state)

    def _reconcile(self) -> None:
        """On each Logon: ask the venue about every open route."""
        for state in self._routes.values():
            request = state.request
            self.session.send_app(t.ORDER_STATUS_REQUEST, [(t.ClOrdID, state.cl_ord_id), (t.Symbol, request.symbol),
                                                           (t.Side_, t.SIDE_CODE[request.side])])

    # --- helpers ----------------------------------------------------------------------------------

    def _send_amend(self, state: _Route, msg_type: str, kind: str, extra: list[tuple[int, str]]) -> None:
        state.n += 1
        cl_ord_id = f"{state.request.route_id}.{kind}{state.n}"
        state.pending = cl_ord_id
        self._remember(cl_ord_id, state.request.route_id)
        request = state.request
        body = [(t.OrigClOrdID, state.cl_ord_id), (t.ClOrdID, cl_ord_id), (t.Symbol, request.symbol),
                (t.Side_, t.SIDE_CODE[request.side]), (t.TransactTime, self._now()), *extra]
        if msg_type == t.ORDER_CANCEL_REQUEST:
            body.append((t.OrderQty, _fmt(request.quantity)))
        self.session.send_app(msg_type, body)
        self._flush()

    def _amend_problem(self, state: _Route | None) -> Reject | None:
        if not self.logged_on:
            return self._not_connected()
        if state is not None and state.pending is not None:
            return Reject(RejectCode.ALREADY_PENDING, f"a request is already pending at {self.venue_id}", {"venue": self.venue_id})
        return None

    def _remember(self, cl_ord_id: str, route_id: RouteId) -> None:
        self._by_cl_ord_id[cl_ord_id] = route_id
        self.store.add_cl_ord_id(self.session.key, cl_ord_id, route_id)

    def _cancel_unfilled(self, state: _Route) -> None:
        """The venue left part of the order unfilled with nothing left working: book it canceled."""
        if state.unfilled > 0 and not state.expiring:
            self._report(cmd.VenueCanceled(actor=self._actor, route_id=state.request.route_id,
                                           reason=f"{self.venue_id} left {_fmt(state.unfilled)} unfilled, nothing working"))

    def _done(self, route_id: RouteId) -> None:
        self._routes.pop(route_id, None)

    def _not_connected(self) -> Reject:
        return Reject(RejectCode.VENUE_REJECT, f"venue {self.venue_id} is not connected", {"venue": self.venue_id})

    def _unknown(self, route_id: RouteId) -> Reject:
        return Reject(RejectCode.UNKNOWN_ORDER, f"{self.venue_id} has no open order for route {route_id}", {"venue": self.venue_id})

    def _now(self) -> str:
        return codec.utc_timestamp(time.time_ns())


def _nothing_left(fields: dict[int, str]) -> bool:
    """LeavesQty(151) is zero (a venue may report a completing fill as Pending Replace/Cancel)."""
    try:
        return Decimal(fields.get(t.LeavesQty, "")) == 0
    except InvalidOperation:
        return False


def _fmt(value: Decimal) -> str:
    return format(value, "f")
