"""One FIX client session of the acceptor: its messages become engine commands, and engine events
on its orders become its ExecutionReports.

Orders are posted to the runtime in arrival order. Requests that must see earlier orders
(cancel, replace and status by ClOrdID, mass requests) wait until every command the session
posted before them is durable, so "cancel before ack" finds its order; new orders are posted at
once and pipeline freely. Reports are folded into the session's own copy of each order, so
each carries the OrdStatus/CumQty/LeavesQty/AvgPx of its moment even when the engine has
already decided the next batch.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from itertools import count
from typing import TYPE_CHECKING

from ..config import FixSessionConfig
from ..domain import commands as cmd
from ..domain import events as ev
from ..domain.ids import AccountId, ClientOrderId, OrderId
from ..domain.lifecycle import OrdStatus, Pending
from ..domain.order import Order
from ..domain.rejects import Reject, RejectCode
from ..fix import codec, mapping
from ..fix import tags as t
from ..fix.codec import FixMessage
from ..fix.session import FixSession
from ..service.runtime import Outcome

if TYPE_CHECKING:
    from .fix_acceptor import FixConnection, FixGateway

Pairs = list[tuple[int, str]]

# The events ``ClientSession.report`` turns into a message (one branch each there).
REPORTED = frozenset({ev.OrderFilled, ev.OrderAcknowledged, ev.CancelRequested, ev.ReplaceRequested, ev.CancelRejected,
                      ev.ReplaceRejected, ev.OrderCanceled, ev.OrderReplaced, ev.OrderRejected, ev.OrderExpired,
                      ev.OrderDoneForDay, ev.OrderRestated, ev.TradeBusted, ev.TradeCorrected})


class ClientSession:
    """One configured FIX client session and the orders it owns."""

    def __init__(self, gateway: FixGateway, settings: FixSessionConfig, session: FixSession) -> None:
        self.gateway = gateway
        self.settings = settings
        self.session = session
        self.accounts = tuple(AccountId(a) for a in settings.accounts)
        self.drop_copy = settings.drop_copy
        self.actor = cmd.Actor(settings.user, "fix", session.key)
        self.connection: FixConnection | None = None
        self.cl_ord_ids: dict[str, OrderId] = {}  # every ClOrdID of the session's orders
        self.orders: dict[OrderId, Order] = {}  # the session's orders, folded from durable events
        self._unanswered: dict[int, Callable[[Outcome], None]] = {}  # commands posted, not yet durable
        self._post_n = count(1)
        self._waiting: deque[tuple[bool, Callable[[], None]]] = deque()  # (needs quiet, action)
        self._report_n = count(1)

    # --- ordering ---------------------------------------------------------------------------

    def _enqueue(self, needs_quiet: bool, action: Callable[[], None]) -> None:
        if self.failed is not None and self._unanswered:
            self.abandon()
        if not self._waiting and (not needs_quiet or not self._unanswered):
            action()
        else:
            self._waiting.append((needs_quiet, action))

    def _drain(self) -> None:
        waiting = self._waiting
        while waiting:
            needs_quiet, action = waiting[0]
            if needs_quiet and self._unanswered:
                return
            waiting.popleft()
            action()
        self.gateway.flush()

    def _post(self, command: cmd.Command, answer: Callable[[Outcome], None]) -> None:
        runtime = self.gateway.runtime
        if self.unavailable is not None:  # answered as the engine answers everyone while it is down
            reason = Reject(RejectCode.ENGINE_UNAVAILABLE, self.unavailable)
            answer(Outcome([], None, reason))
            return
        key = next(self._post_n)
        self._unanswered[key] = answer

        def done(outcome: Outcome) -> None:
            if self._unanswered.pop(key, None) is None:
                return  # already answered as refused (the engine stopped)
            answer(outcome)
            if not self._unanswered and self._waiting:
                # After this batch's reports (subscribers run right after replies).
                asyncio.get_running_loop().call_soon(self._drain)

        runtime.post(command, done)

    def abandon(self) -> None:
        """The engine stopped: what was posted will never be answered by it. Refuse it all
        (rejects and cancel rejects go out), then let what waited behind it run (and be refused)."""
        reason = Reject(RejectCode.ENGINE_UNAVAILABLE, self.unavailable or "engine is not running")
        unanswered, self._unanswered = self._unanswered, {}
        for answer in unanswered.values():
            answer(Outcome([], None, reason))
        self._drain()

    @property
    def unavailable(self) -> str | None:
        """Why new commands are refused now (the engine failed, or its journal is reconnecting)."""
        runtime = self.gateway.runtime
        return runtime.unavailable or (None if runtime.running else "engine is not running")

    @property
    def failed(self) -> str | None:
        """Why what was posted will never be answered. Not while the journal reconnects: those
        commands are decided and will be answered once durable."""
        runtime = self.gateway.runtime
        return runtime.failure or (None if runtime.running else "engine is not running")

    # --- inbound application messages ----------------------------------------------------------

    def on_message(self, message: FixMessage) -> None:
        kind = message.msg_type
        if self.drop_copy:
            self._business_reject(message, t.BUSINESS_OTHER, "a drop copy session receives reports and takes no requests")
            return
        if kind not in mapping.SUPPORTED:
            self._business_reject(message, t.UNSUPPORTED_MESSAGE_TYPE, f"Unsupported Message Type {kind}")
            return
        problem = mapping.check_body(message)
        if problem is not None:
            self.session.reject(message, problem.reason, problem.tag, problem.text)
            return
        if self.unavailable is not None:
            if kind == t.NEW_ORDER_SINGLE:
                self._reject_new(message, mapping.BusinessProblem("99", f"ENGINE_UNAVAILABLE: {self.unavailable}"))
            else:
                self._business_reject(message, t.APPLICATION_NOT_AVAILABLE, f"ENGINE_UNAVAILABLE: {self.unavailable}")
            return
        if kind == t.NEW_ORDER_SINGLE and message.fields.get(t.PossResend) == "Y":
            # Possibly sent before under another sequence number: it must see the orders before it.
            self._enqueue(True, lambda: self._new_order(message))
        elif kind == t.NEW_ORDER_SINGLE:
            self._enqueue(False, lambda: self._new_order(message))
        elif kind == t.ORDER_CANCEL_REQUEST:
            self._enqueue(True, lambda: self._cancel(message))
        elif kind == t.ORDER_CANCEL_REPLACE_REQUEST:
            self._enqueue(True, lambda: self._replace(message))
        elif kind == t.ORDER_STATUS_REQUEST:
            self._enqueue(True, lambda: self._status(message))
        elif kind == t.ORDER_MASS_CANCEL_REQUEST:
            self._enqueue(True, lambda: self._mass_cancel(message))
        else:
            self._enqueue(True, lambda: self._mass_status(message))

    def _new_order(self, message: FixMessage) -> None:
        if message.fields.get(t.PossResend) == "Y":
            known = self._find(message.fields[t.ClOrdID])
            if known is not None:  # a resend of an order we have: its status, not a duplicate reject
                self.session.send_app(t.EXECUTION_REPORT, mapping.execution_report(known, "I", self._exec_id("S"), self._now()))
                return
        command = mapping.new_order(message, self.accounts, self.actor)
        if isinstance(command, mapping.BusinessProblem):
            self._reject_new(message, command)
            return
        submit = command

        def answer(outcome: Outcome) -> None:
            if outcome.rejected is not None:
                self.session.send_app(t.EXECUTION_REPORT, mapping.rejected_order(
                    submit, self._exec_id("R"), self._now(), outcome.rejected))

        self._post(submit, answer)

    def _reject_new(self, message: FixMessage, problem: mapping.BusinessProblem) -> None:
        self.session.send_app(t.EXECUTION_REPORT, mapping.rejected_message(message, self._exec_id("R"), self._now(), problem))

    def _find(self, cl_ord_id: str) -> Order | None:
        order_id = self.cl_ord_ids.get(cl_ord_id)
        return self.orders.get(order_id) if order_id is not None else None

    def _cancel(self, message: FixMessage) -> None:
        self._amend(message, "1")

    def _replace(self, message: FixMessage) -> None:
        self._amend(message, "2")

    def _amend(self, message: FixMessage, response_to: str) -> None:
        fields = message.fields
        cl_ord_id, orig = fields[t.ClOrdID], fields[t.OrigClOrdID]
        order = self._find(orig)
        if order is None:
            self.session.send_app(t.ORDER_CANCEL_REJECT, mapping.cancel_reject(
                None, cl_ord_id, orig, response_to, None, f"UNKNOWN_ORDER: no order with ClOrdID {orig!r} on this session"))
            return
        if fields[t.Symbol] != order.symbol or t.SIDES.get(fields[t.Side_]) is not order.side:
            self.session.send_app(t.ORDER_CANCEL_REJECT, mapping.cancel_reject(
                order, cl_ord_id, orig, response_to, None,
                f"Symbol(55)/Side(54) do not match order {orig!r} ({order.symbol}, {t.SIDE_CODE[order.side]})"))
            return
        command: cmd.Command
        if response_to == "1":
            command = cmd.CancelOrder(actor=self.actor, order_id=order.order_id, cl_ord_id=ClientOrderId(cl_ord_id))
        else:
            quantity, price, stop_price = mapping.replace_fields(message)
            command = cmd.ReplaceOrder(actor=self.actor, order_id=order.order_id, cl_ord_id=ClientOrderId(cl_ord_id),
                                       quantity=quantity, price=price, stop_price=stop_price)

        def answer(outcome: Outcome) -> None:
            if outcome.rejected is not None:
                self.session.send_app(t.ORDER_CANCEL_REJECT, mapping.cancel_reject(
                    self.orders.get(order.order_id, order), cl_ord_id, orig, response_to, outcome.rejected))

        self._post(command, answer)

    def _status(self, message: FixMessage) -> None:
        fields = message.fields
        order = self._find(fields[t.ClOrdID])
        if order is None:
            self.session.send_app(t.EXECUTION_REPORT, [
                (t.OrderID, "NONE"), (t.ClOrdID, fields[t.ClOrdID]), (t.ExecID, self._exec_id("S")), (t.ExecType, "I"),
                (t.OrdStatus_, "8"), (t.OrdRejReason, "5"), (t.Symbol, fields[t.Symbol]), (t.Side_, fields[t.Side_]),
                (t.LeavesQty, "0"), (t.CumQty, "0"), (t.AvgPx, "0"), (t.TransactTime, self._now()),
                (t.Text, f"UNKNOWN_ORDER: no order with ClOrdID {fields[t.ClOrdID]!r} on this session")])
            return
        self.session.send_app(t.EXECUTION_REPORT, mapping.execution_report(order, "I", self._exec_id("S"), self._now()))

    def _live_orders(self, symbol: str | None) -> list[Order]:
        return [o for o in self.orders.values() if not o.is_done and (symbol is None or o.symbol == symbol)]

    def _mass_status(self, message: FixMessage) -> None:
        fields = message.fields
        request_id = fields[t.MassStatusReqID]
        symbol = fields.get(t.Symbol) if fields[t.MassStatusReqType] == "1" else None
        orders = self._live_orders(symbol)
        total = str(len(orders))
        for n, order in enumerate(orders, 1):
            self.session.send_app(t.EXECUTION_REPORT, mapping.execution_report(
                order, "I", self._exec_id("S"), self._now(),
                extra=[(t.MassStatusReqID, request_id), (t.TotNumReports, total), (t.LastRptRequested, "Y" if n == len(orders) else "N")]))
        if not orders:
            self.session.send_app(t.EXECUTION_REPORT, [
                (t.OrderID, "NONE"), (t.ExecID, self._exec_id("S")), (t.ExecType, "I"), (t.OrdStatus_, "8"),
                (t.Symbol, symbol or "NONE"), (t.Side_, "1"), (t.LeavesQty, "0"), (t.CumQty, "0"), (t.AvgPx, "0"),
                (t.TransactTime, self._now()), (t.Text, "no open orders"), (t.MassStatusReqID, request_id),
                (t.TotNumReports, "0"), (t.LastRptRequested, "Y")])

    def _mass_cancel(self, message: FixMessage) -> None:
        fields = message.fields
        kind = fields[t.MassCancelRequestType]
        report: Pairs = [(t.ClOrdID, fields[t.ClOrdID]), (t.OrderID, self._exec_id("MC")), (t.MassCancelRequestType, kind)]
        if kind not in ("1", "7") or (kind == "1" and t.Symbol not in fields):
            reason = "1" if kind == "1" else "0"
            self.session.send_app(t.ORDER_MASS_CANCEL_REPORT, [*report, (t.MassCancelResponse, "0"),
                                                               (t.MassCancelRejectReason, reason),
                                                               (t.Text, "only MassCancelRequestType 1 (with Symbol) and 7 are supported")])
            return
        orders = [o for o in self._live_orders(fields.get(t.Symbol) if kind == "1" else None) if o.pending is not Pending.CANCEL]
        self.session.send_app(t.ORDER_MASS_CANCEL_REPORT, [*report, (t.MassCancelResponse, kind),
                                                           (t.TotalAffectedOrders, str(len(orders)))])
        for order in orders:
            self._post(cmd.CancelOrder(actor=self.actor, order_id=order.order_id), lambda _: None)

    def _business_reject(self, message: FixMessage, reason: int, text: str) -> None:
        body: Pairs = [(t.RefSeqNum, str(message.seq or 0)), (t.RefMsgType, message.msg_type),
                       (t.BusinessRejectReason, str(reason)), (t.Text, text)]
        self.session.send_app(t.BUSINESS_MESSAGE_REJECT, body)

    # --- outbound: engine events -> reports ----------------------------------------------------

    def adopt(self, event: ev.OrderAccepted) -> Order:
        order = Order(event)
        self.orders[order.order_id] = order
        self.gateway.owner[order.order_id] = self
        self.index(order.cl_ord_id, order.order_id)
        self.gateway.store.add_order(order.order_id, self.session.key)
        return order

    def index(self, cl_ord_id: str, order_id: OrderId) -> None:
        self.cl_ord_ids[cl_ord_id] = order_id
        self.gateway.store.add_cl_ord_id(self.session.key, cl_ord_id, order_id)

    def report(self, order: Order, event: ev.Event) -> None:
        """Fold ``event`` into the session's copy of the order and send what it means in FIX."""
        kind = type(event)
        if kind not in REPORTED:  # routes, risk and the like: folded, nothing to say in FIX
            order.apply(event)
            return
        was_pending_new = order.working is OrdStatus.PENDING_NEW
        previous_cl_ord_id = order.cl_ord_id
        cancel_requested = order.pending is Pending.CANCEL and order.pending_cl_ord_id is not None
        order.apply(event)
        when = codec.utc_timestamp(event.ts)
        exec_id = f"{order.order_id}-{event.seq}"
        send = self._send_report
        if kind is ev.OrderFilled:
            fill: ev.OrderFilled = event  # type: ignore[assignment]
            send(t.EXECUTION_REPORT, mapping.execution_report(order, "F", fill.exec_id, when, last=(fill.last_qty, fill.last_px)))
        elif kind is ev.OrderAcknowledged:
            if was_pending_new:
                send(t.EXECUTION_REPORT, mapping.execution_report(order, "0", exec_id, when))
        elif kind is ev.CancelRequested or kind is ev.ReplaceRequested:
            request: ev.CancelRequested = event  # type: ignore[assignment]
            if not self.drop_copy:
                self.index(request.cl_ord_id, order.order_id)
            send(t.EXECUTION_REPORT, mapping.execution_report(
                order, "6" if kind is ev.CancelRequested else "E", exec_id, when,
                cl_ord_id=request.cl_ord_id, orig_cl_ord_id=previous_cl_ord_id))
        elif kind is ev.CancelRejected or kind is ev.ReplaceRejected:
            refused: ev.CancelRejected = event  # type: ignore[assignment]
            send(t.ORDER_CANCEL_REJECT, mapping.cancel_reject(
                order, refused.cl_ord_id, order.cl_ord_id, "1" if kind is ev.CancelRejected else "2", refused.reason))
        elif kind is ev.OrderCanceled:
            canceled: ev.OrderCanceled = event  # type: ignore[assignment]
            orig = order.orig_cl_ord_id if cancel_requested else None
            send(t.EXECUTION_REPORT, mapping.execution_report(order, "4", exec_id, when, orig_cl_ord_id=orig,
                                                              text=canceled.reason))
        elif kind is ev.OrderReplaced:
            send(t.EXECUTION_REPORT, mapping.execution_report(order, "5", exec_id, when, orig_cl_ord_id=order.orig_cl_ord_id))
        elif kind is ev.OrderRejected:
            rejected: ev.OrderRejected = event  # type: ignore[assignment]
            reason = rejected.reason
            send(t.EXECUTION_REPORT, mapping.execution_report(
                order, "8", exec_id, when, text=f"{reason.code.value}: {reason.message}",
                extra=[(t.OrdRejReason, t.ORD_REJ_REASON.get(reason.code, "99"))]))
        elif kind is ev.OrderExpired:
            send(t.EXECUTION_REPORT, mapping.execution_report(order, "C", exec_id, when, text=event.reason))  # type: ignore[attr-defined]
        elif kind is ev.OrderDoneForDay:
            send(t.EXECUTION_REPORT, mapping.execution_report(order, "3", exec_id, when))
        elif kind is ev.OrderRestated:
            send(t.EXECUTION_REPORT, mapping.execution_report(order, "D", exec_id, when, text=event.reason,  # type: ignore[attr-defined]
                                                              extra=[(t.ExecRestatementReason, "1")]))
        elif kind is ev.TradeBusted:
            busted: ev.TradeBusted = event  # type: ignore[assignment]
            send(t.EXECUTION_REPORT, mapping.execution_report(order, "H", exec_id, when, extra=[(t.ExecRefID, busted.exec_id)]))
        elif kind is ev.TradeCorrected:
            corrected: ev.TradeCorrected = event  # type: ignore[assignment]
            send(t.EXECUTION_REPORT, mapping.execution_report(
                order, "G", exec_id, when, last=(corrected.last_qty, corrected.last_px), extra=[(t.ExecRefID, corrected.exec_id)]))

    def accepted(self, order: Order, event: ev.OrderAccepted) -> None:
        self._send_report(t.EXECUTION_REPORT, mapping.execution_report(
            order, "A", f"{order.order_id}-{event.seq}", codec.utc_timestamp(event.ts)))

    def _send_report(self, msg_type: str, body: Pairs) -> None:
        if self.drop_copy:
            if msg_type != t.EXECUTION_REPORT:
                return  # a drop copy carries execution reports only
            body.append((t.CopyMsgIndicator, "Y"))
        self.session.send_app(msg_type, body)

    def copy(self, event: ev.OrderAccepted) -> Order:
        """A drop copy session follows an order on one of its accounts."""
        order = Order(event)
        self.orders[order.order_id] = order
        return order

    # --- helpers -----------------------------------------------------------------------------

    def _now(self) -> str:
        return codec.utc_timestamp(time.time_ns())

    def _exec_id(self, kind: str) -> str:
        return f"{self.gateway.instance}-{kind}{next(self._report_n)}"
