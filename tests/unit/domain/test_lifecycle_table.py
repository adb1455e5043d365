"""The lifecycle tables, row by row: every WORKING and PENDING entry is exercised on a real Order.

Orders are built into each starting status through the engine (so they are real, reachable
states), then one hand-made event is folded in with ``Order.apply`` and the resulting working
status is compared with what the row promises. A coverage test makes sure no row is skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from builders import ACTOR, D, Desk, order_snapshot, replay, route_of, snapshot, without_history
from openoms.domain import events as ev
from openoms.domain.ids import ClientOrderId, ExecId, OrderId, RouteId, VenueId, VenueOrderId
from openoms.domain.lifecycle import (
    BY_QUANTITY,
    KEEP,
    NEUTRAL,
    PENDING,
    TERMINAL,
    WORKING,
    OrdStatus,
    Pending,
    next_pending,
    next_working,
    reported_status,
)
from openoms.domain.order import Order
from openoms.domain.rejects import CXL_REJ_REASON, Reject, RejectCode
from openoms.domain.values import Liquidity, TimeInForce

S = OrdStatus

# --- starting states (built through the engine) ---------------------------------------------


def _pending_new(desk: Desk) -> str:
    return desk.submit_ok("100", "230.00")


def _new(desk: Desk) -> str:
    oid = _pending_new(desk)
    desk.ack(oid)
    return oid


def _partially_filled(desk: Desk) -> str:  # two fills: 30 @ 230.01 (E1) + 10 @ 230.02 (E2)
    oid = _new(desk)
    desk.fill(oid, "30", "230.01")
    desk.fill(oid, "10", "230.02")
    return oid


def _partially_filled_once(desk: Desk) -> str:  # one fill: 40 @ 230.01 (E1)
    oid = _new(desk)
    desk.fill(oid, "40", "230.01")
    return oid


def _filled(desk: Desk) -> str:  # 60 @ 230.01 (E1) + 40 @ 230.02 (E2)
    oid = _new(desk)
    desk.fill(oid, "60", "230.01")
    desk.fill(oid, "40", "230.02")
    return oid


def _filled_once(desk: Desk) -> str:  # 100 @ 230.01 (E1)
    oid = _new(desk)
    desk.fill(oid, "100", "230.01")
    return oid


def _done_for_day(desk: Desk) -> str:  # GTC, 40 @ 230.01 (E1), end of day
    oid = desk.submit_ok("100", "230.00", tif=TimeInForce.GTC)
    desk.ack(oid)
    desk.fill(oid, "40", "230.01")
    desk.end_of_day()
    return oid


def _done_for_day_unfilled(desk: Desk) -> str:
    oid = desk.submit_ok("100", "230.00", tif=TimeInForce.GTC)
    desk.ack(oid)
    desk.end_of_day()
    return oid


def _canceled(desk: Desk) -> str:  # 40 @ 230.01 (E1), then canceled
    oid = _partially_filled_once(desk)
    desk.cancel(oid)
    desk.venue_canceled(oid)
    return oid


def _canceled_unacked(desk: Desk) -> str:
    oid = _pending_new(desk)
    desk.cancel(oid)
    desk.venue_canceled(oid)
    return oid


def _rejected(desk: Desk) -> str:
    oid = _pending_new(desk)
    desk.venue_rejected(oid)
    return oid


def _expired(desk: Desk) -> str:  # DAY order, 40 @ 230.01 (E1), end of day
    oid = _partially_filled_once(desk)
    desk.end_of_day()
    return oid


STARTS: dict[str, tuple[Callable[[Desk], str], OrdStatus, Decimal]] = {
    # name: (builder, working status, cum qty)
    "pending_new": (_pending_new, S.PENDING_NEW, D(0)),
    "new": (_new, S.NEW, D(0)),
    "partially_filled": (_partially_filled, S.PARTIALLY_FILLED, D(40)),
    "partially_filled_once": (_partially_filled_once, S.PARTIALLY_FILLED, D(40)),
    "filled": (_filled, S.FILLED, D(100)),
    "filled_once": (_filled_once, S.FILLED, D(100)),
    "done_for_day": (_done_for_day, S.DONE_FOR_DAY, D(40)),
    "done_for_day_unfilled": (_done_for_day_unfilled, S.DONE_FOR_DAY, D(0)),
    "canceled": (_canceled, S.CANCELED, D(40)),
    "canceled_unacked": (_canceled_unacked, S.CANCELED, D(0)),
    "rejected": (_rejected, S.REJECTED, D(0)),
    "expired": (_expired, S.EXPIRED, D(40)),
}


def build(start: str) -> tuple[Desk, Order]:
    builder, status, cum = STARTS[start]
    desk = Desk()
    order = desk.order(builder(desk))
    assert order.working is status, (start, order.working)
    assert order.pending is None
    assert order.cum_qty == cum
    return desk, order


# --- one hand-made event per row ----------------------------------------------------------

Factory = Callable[[Order, int, int], ev.Event]


def _base(order: Order, seq: int, ts: int) -> dict[str, Any]:
    return {"seq": seq, "ts": ts, "actor": ACTOR, "order_id": order.order_id}


def routed(order: Order, seq: int, ts: int) -> ev.Event:
    return ev.OrderRouted(**_base(order, seq, ts), route_id=RouteId(f"{order.order_id}-2"), venue=VenueId("SIM"),
                          quantity=order.quantity, price=order.price)


def acked(order: Order, seq: int, ts: int) -> ev.Event:
    return ev.OrderAcknowledged(**_base(order, seq, ts), route_id=route_of(order.order_id), venue_order_id=VenueOrderId("V9"))


def rejected(order: Order, seq: int, ts: int) -> ev.Event:
    return ev.OrderRejected(**_base(order, seq, ts), route_id=route_of(order.order_id), reason=Reject(RejectCode.VENUE_REJECT, "no"))


def filled(qty: str) -> Factory:
    def make(order: Order, seq: int, ts: int) -> ev.Event:
        last_qty = order.quantity - order.cum_qty if qty == "leaves" else D(qty)
        return ev.OrderFilled(**_base(order, seq, ts), route_id=route_of(order.order_id), exec_id=ExecId("EX-NEW"),
                              last_qty=last_qty, last_px=D("230.05"), liquidity=Liquidity.ADDED)
    return make


def canceled(order: Order, seq: int, ts: int) -> ev.Event:
    return ev.OrderCanceled(**_base(order, seq, ts), route_id=route_of(order.order_id), reason="requested")


def replaced(qty: str) -> Factory:
    def make(order: Order, seq: int, ts: int) -> ev.Event:
        quantity = order.cum_qty if qty == "cum" else order.cum_qty - 10 if qty == "below_cum" else D(qty)
        return ev.OrderReplaced(**_base(order, seq, ts), cl_ord_id=ClientOrderId("R1"), quantity=quantity,
                                price=D("230.10"), stop_price=None)
    return make


def expired(order: Order, seq: int, ts: int) -> ev.Event:
    return ev.OrderExpired(**_base(order, seq, ts), reason="expired")


def done_for_day(order: Order, seq: int, ts: int) -> ev.Event:
    return ev.OrderDoneForDay(**_base(order, seq, ts))


def restated(order: Order, seq: int, ts: int) -> ev.Event:
    return ev.OrderRestated(**_base(order, seq, ts), reason="new day")


def busted(exec_id: str) -> Factory:
    def make(order: Order, seq: int, ts: int) -> ev.Event:
        return ev.TradeBusted(**_base(order, seq, ts), exec_id=ExecId(exec_id))
    return make


def corrected(exec_id: str, qty: str, px: str) -> Factory:
    def make(order: Order, seq: int, ts: int) -> ev.Event:
        return ev.TradeCorrected(**_base(order, seq, ts), exec_id=ExecId(exec_id), last_qty=D(qty), last_px=D(px))
    return make


def cancel_requested(order: Order, seq: int, ts: int) -> ev.Event:
    return ev.CancelRequested(**_base(order, seq, ts), cl_ord_id=ClientOrderId("C1"), route_id=route_of(order.order_id))


def cancel_rejected(order: Order, seq: int, ts: int) -> ev.Event:
    return ev.CancelRejected(**_base(order, seq, ts), cl_ord_id=ClientOrderId("C1"), reason=Reject(RejectCode.TOO_LATE, "late"))


def replace_requested(order: Order, seq: int, ts: int) -> ev.Event:
    return ev.ReplaceRequested(**_base(order, seq, ts), cl_ord_id=ClientOrderId("R1"), route_id=route_of(order.order_id),
                               quantity=D(150), price=D("230.10"), stop_price=None)


def routing_decided(order: Order, seq: int, ts: int) -> ev.Event:
    return ev.RoutingDecided(**_base(order, seq, ts), rule="default", strategy="rule",
                             allocations=((VenueId("SIM"), order.quantity),))


def route_ended(order: Order, seq: int, ts: int) -> ev.Event:
    return ev.RouteEnded(**_base(order, seq, ts), route_id=route_of(order.order_id), reason="venue canceled")


def replace_rejected(order: Order, seq: int, ts: int) -> ev.Event:
    return ev.ReplaceRejected(**_base(order, seq, ts), cl_ord_id=ClientOrderId("R1"), reason=Reject(RejectCode.TOO_LATE, "late"))


# (start, event type, label, factory, expected working status, expected cum qty)
CASES: list[tuple[str, type[ev.Event], str, Factory, OrdStatus, str]] = [
    ("pending_new", ev.OrderRouted, "second route", routed, S.PENDING_NEW, "0"),
    ("pending_new", ev.OrderAcknowledged, "ack", acked, S.NEW, "0"),
    ("new", ev.OrderAcknowledged, "ack of another route (split order)", acked, S.NEW, "0"),
    ("new", ev.OrderRouted, "remainder re-routed", routed, S.NEW, "0"),
    ("partially_filled", ev.OrderRouted, "remainder re-routed", routed, S.PARTIALLY_FILLED, "40"),
    ("partially_filled", ev.OrderAcknowledged, "late ack", acked, S.PARTIALLY_FILLED, "40"),
    ("filled", ev.OrderAcknowledged, "late ack", acked, S.FILLED, "100"),
    ("canceled_unacked", ev.OrderAcknowledged, "late ack", acked, S.CANCELED, "0"),
    ("pending_new", ev.OrderRejected, "venue reject", rejected, S.REJECTED, "0"),
    ("pending_new", ev.OrderFilled, "partial before ack", filled("25"), S.PARTIALLY_FILLED, "25"),
    ("pending_new", ev.OrderFilled, "complete before ack", filled("leaves"), S.FILLED, "100"),
    ("new", ev.OrderFilled, "partial", filled("25"), S.PARTIALLY_FILLED, "25"),
    ("new", ev.OrderFilled, "complete", filled("leaves"), S.FILLED, "100"),
    ("new", ev.OrderFilled, "overfill", filled("150"), S.FILLED, "150"),
    ("partially_filled", ev.OrderFilled, "partial", filled("25"), S.PARTIALLY_FILLED, "65"),
    ("partially_filled", ev.OrderFilled, "complete", filled("leaves"), S.FILLED, "100"),
    ("filled", ev.OrderFilled, "overfill is booked", filled("10"), S.FILLED, "110"),
    ("canceled", ev.OrderFilled, "late fill is booked", filled("10"), S.CANCELED, "50"),
    ("expired", ev.OrderFilled, "late fill is booked", filled("10"), S.EXPIRED, "50"),
    ("done_for_day", ev.OrderFilled, "late fill is booked", filled("10"), S.DONE_FOR_DAY, "50"),
    ("pending_new", ev.OrderCanceled, "cancel", canceled, S.CANCELED, "0"),
    ("new", ev.OrderCanceled, "cancel", canceled, S.CANCELED, "0"),
    ("partially_filled", ev.OrderCanceled, "cancel keeps fills", canceled, S.CANCELED, "40"),
    ("done_for_day", ev.OrderCanceled, "cancel", canceled, S.CANCELED, "40"),
    ("pending_new", ev.OrderReplaced, "confirmed before ack", replaced("150"), S.NEW, "0"),
    ("new", ev.OrderReplaced, "up", replaced("150"), S.NEW, "0"),
    ("new", ev.OrderReplaced, "down", replaced("50"), S.NEW, "0"),
    ("partially_filled", ev.OrderReplaced, "up", replaced("150"), S.PARTIALLY_FILLED, "40"),
    ("partially_filled", ev.OrderReplaced, "down above cum", replaced("50"), S.PARTIALLY_FILLED, "40"),
    ("partially_filled", ev.OrderReplaced, "down to cum", replaced("cum"), S.FILLED, "40"),
    ("partially_filled", ev.OrderReplaced, "below cum", replaced("below_cum"), S.FILLED, "40"),
    ("done_for_day", ev.OrderReplaced, "keeps done for day", replaced("150"), S.DONE_FOR_DAY, "40"),
    ("pending_new", ev.OrderExpired, "expire", expired, S.EXPIRED, "0"),
    ("new", ev.OrderExpired, "expire", expired, S.EXPIRED, "0"),
    ("partially_filled", ev.OrderExpired, "expire", expired, S.EXPIRED, "40"),
    ("done_for_day", ev.OrderExpired, "expire", expired, S.EXPIRED, "40"),
    ("new", ev.OrderDoneForDay, "eod", done_for_day, S.DONE_FOR_DAY, "0"),
    ("partially_filled", ev.OrderDoneForDay, "eod", done_for_day, S.DONE_FOR_DAY, "40"),
    ("done_for_day", ev.OrderRestated, "restated with fills", restated, S.PARTIALLY_FILLED, "40"),
    ("done_for_day_unfilled", ev.OrderRestated, "restated without fills", restated, S.NEW, "0"),
    ("partially_filled", ev.TradeBusted, "one of two fills", busted("E1"), S.PARTIALLY_FILLED, "10"),
    ("partially_filled_once", ev.TradeBusted, "the only fill", busted("E1"), S.NEW, "0"),
    ("filled", ev.TradeBusted, "one of two fills", busted("E2"), S.PARTIALLY_FILLED, "60"),
    ("filled_once", ev.TradeBusted, "the only fill", busted("E1"), S.NEW, "0"),
    ("canceled", ev.TradeBusted, "stays canceled", busted("E1"), S.CANCELED, "0"),
    ("expired", ev.TradeBusted, "stays expired", busted("E1"), S.EXPIRED, "0"),
    ("done_for_day", ev.TradeBusted, "stays done for day", busted("E1"), S.DONE_FOR_DAY, "0"),
    ("partially_filled", ev.TradeCorrected, "quantity down", corrected("E1", "20", "230.01"), S.PARTIALLY_FILLED, "30"),
    ("partially_filled", ev.TradeCorrected, "quantity up to order qty", corrected("E1", "90", "230.01"), S.FILLED, "100"),
    ("partially_filled", ev.TradeCorrected, "price only", corrected("E1", "30", "229.99"), S.PARTIALLY_FILLED, "40"),
    ("filled", ev.TradeCorrected, "quantity down", corrected("E1", "50", "230.01"), S.PARTIALLY_FILLED, "90"),
    ("filled", ev.TradeCorrected, "price only", corrected("E1", "60", "230.00"), S.FILLED, "100"),
    ("canceled", ev.TradeCorrected, "stays canceled", corrected("E1", "20", "230.01"), S.CANCELED, "20"),
    ("expired", ev.TradeCorrected, "stays expired", corrected("E1", "20", "230.01"), S.EXPIRED, "20"),
    ("done_for_day", ev.TradeCorrected, "stays done for day", corrected("E1", "20", "230.01"), S.DONE_FOR_DAY, "20"),
]


def _case_id(case: tuple[str, type[ev.Event], str, Factory, OrdStatus, str]) -> str:
    return f"{case[0]}-{case[1].__name__}-{case[2].replace(' ', '_')}"


def test_every_working_row_is_exercised() -> None:
    covered = {(STARTS[start][1], kind) for start, kind, *_ in CASES}
    assert covered == set(WORKING), {"missing": set(WORKING) - covered, "extra": covered - set(WORKING)}


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_working_row_when_applied_then_order_has_promised_status(case: tuple[str, type[ev.Event], str, Factory, OrdStatus, str]) -> None:
    start, kind, _, factory, expected, expected_cum = case
    desk, order = build(start)
    before = order.working
    event = factory(order, desk.engine.seq + 1, desk.now)
    assert type(event) is kind

    order.apply(event)

    target = WORKING[(before, kind)]
    if target is KEEP:
        assert expected is before, "a KEEP row must not move the working status"
    elif target is not BY_QUANTITY:
        assert expected is target, "the case disagrees with the table"
    assert order.working is expected
    assert order.status is expected  # nothing pending
    assert order.cum_qty == D(expected_cum)
    live_execs = [x for x in order.executions.values() if not x.busted]
    assert order.cum_qty == sum((x.quantity for x in live_execs), D(0))
    assert order.px_qty_sum == sum((x.quantity * x.price for x in live_execs), D(0))
    if expected in (S.PENDING_NEW, S.NEW, S.PARTIALLY_FILLED):
        assert order.quantity == order.cum_qty + order.leaves_qty
    else:
        assert order.leaves_qty == 0
    assert order.last_seq == event.seq
    assert order.updated_ts == event.ts


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_working_row_when_applied_through_engine_then_replay_matches(case: tuple[str, type[ev.Event], str, Factory, OrdStatus, str]) -> None:
    """Engine.apply takes the same rows (and keeps live/positions consistent with a replay)."""
    start, _, _, factory, expected, _ = case
    desk, order = build(start)
    event = factory(order, desk.engine.seq + 1, desk.now)
    desk.engine.apply(event)
    desk.events.append(event)
    assert order.working is expected
    assert (order.order_id in desk.engine.live) is (expected not in TERMINAL)
    assert snapshot(replay(desk.events)) == snapshot(desk.engine)


def test_next_working_is_none_exactly_outside_the_table() -> None:
    statuses = [s for s in OrdStatus if s not in (S.PENDING_CANCEL, S.PENDING_REPLACE)]
    kinds = {kind for _, kind in WORKING} | set(NEUTRAL)
    for status in statuses:
        for kind in kinds:
            got = next_working(status, kind)
            if kind in NEUTRAL:
                assert got is KEEP
            else:
                assert got == WORKING.get((status, kind))


NEUTRAL_FACTORIES: dict[type[ev.Event], Factory] = {
    ev.CancelRequested: cancel_requested,
    ev.CancelRejected: cancel_rejected,
    ev.ReplaceRequested: replace_requested,
    ev.ReplaceRejected: replace_rejected,
    ev.RoutingDecided: routing_decided,
    ev.RouteEnded: route_ended,
}


@pytest.mark.parametrize("start", sorted(STARTS))
@pytest.mark.parametrize("kind", sorted(NEUTRAL, key=lambda k: k.__name__), ids=lambda k: k.__name__)
def test_neutral_event_when_applied_then_working_status_and_quantities_unchanged(start: str, kind: type[ev.Event]) -> None:
    desk, order = build(start)
    before = order_snapshot(order)
    order.apply(NEUTRAL_FACTORIES[kind](order, desk.engine.seq + 1, desk.now))
    after = order_snapshot(order)
    for field in ("working", "cum_qty", "px_qty_sum", "quantity", "price", "cl_ord_id", "executions", "leaves_qty"):
        assert after[field] == before[field], field


# --- the PENDING table --------------------------------------------------------------------


def _with_pending(pending: Pending | None, start: str = "partially_filled") -> tuple[Desk, Order]:
    desk, order = build(start)
    if pending is Pending.CANCEL:
        desk.cancel(order.order_id, "C1")
    elif pending is Pending.REPLACE:
        desk.replace(order.order_id, "R1", qty="150", price="230.10")
    assert order.pending is pending
    return desk, order


PENDING_FACTORIES: dict[type[ev.Event], Factory] = {
    ev.CancelRequested: cancel_requested,
    ev.ReplaceRequested: replace_requested,
    ev.CancelRejected: cancel_rejected,
    ev.OrderCanceled: canceled,
    ev.OrderExpired: expired,
    ev.ReplaceRejected: replace_rejected,
    ev.OrderReplaced: replaced("150"),
}


@pytest.mark.parametrize("row", sorted(PENDING.items(), key=str), ids=lambda r: f"{r[0][0]}-{r[0][1].__name__}")
def test_pending_row_when_applied_then_order_has_promised_pending(row: tuple[tuple[Pending | None, type[ev.Event]], Pending | None]) -> None:
    (pending, kind), target = row
    desk, order = _with_pending(pending)
    order.apply(PENDING_FACTORIES[kind](order, desk.engine.seq + 1, desk.now))
    assert order.pending is target
    assert order.status is reported_status(order.working, target)
    if target is None and kind is not ev.OrderExpired:  # expiry: see the dedicated test below
        assert order.pending_cl_ord_id is None


def test_expire_when_cancel_pending_then_pending_cl_ord_id_cleared_with_pending() -> None:
    """The PENDING table clears a pending cancel on expiry; the cancel's ClOrdID must go with it,
    or the order holds ``pending=None`` next to a dangling ``pending_cl_ord_id``."""
    desk, order = _with_pending(Pending.CANCEL)
    desk.end_of_day()
    assert order.working is S.EXPIRED
    assert order.pending is None
    assert order.pending_cl_ord_id is None


def test_pending_table_rows_are_all_exercised() -> None:
    assert set(PENDING_FACTORIES) == {kind for _, kind in PENDING}


@pytest.mark.parametrize("pending", [Pending.CANCEL, Pending.REPLACE])
def test_pending_when_event_outside_pending_table_then_pending_kept(pending: Pending) -> None:
    """A fill, a late ack or an EOD mark do not answer a pending request."""
    for factory in (filled("10"), acked, done_for_day):
        desk, order = _with_pending(pending)
        order.apply(factory(order, desk.engine.seq + 1, desk.now))
        assert order.pending is pending
        assert next_pending(pending, ev.OrderFilled) is pending


def test_cancel_when_canceled_then_orig_cl_ord_id_is_previous_and_cl_ord_id_is_cancel_id() -> None:
    desk, order = _with_pending(Pending.CANCEL)
    original = order.cl_ord_id
    order.apply(canceled(order, desk.engine.seq + 1, desk.now))
    assert order.cl_ord_id == "C1"
    assert order.orig_cl_ord_id == original


def test_replace_when_confirmed_then_new_terms_and_cl_ord_id_apply() -> None:
    desk, order = _with_pending(Pending.REPLACE)
    original = order.cl_ord_id
    order.apply(replaced("150")(order, desk.engine.seq + 1, desk.now))
    assert (order.cl_ord_id, order.orig_cl_ord_id) == ("R1", original)
    assert (order.quantity, order.price, order.leaves_qty) == (D(150), D("230.10"), D(110))
    assert order.routes[route_of(order.order_id)].quantity == D(150)


# --- FIX precedence: PendingCancel > PendingReplace > working -------------------------------


@pytest.mark.parametrize("working", [s for s in OrdStatus if s not in (S.PENDING_CANCEL, S.PENDING_REPLACE)])
def test_reported_status_follows_fix_precedence(working: OrdStatus) -> None:
    assert reported_status(working, Pending.CANCEL) is S.PENDING_CANCEL
    assert reported_status(working, Pending.REPLACE) is S.PENDING_REPLACE
    assert reported_status(working, None) is working


@pytest.mark.parametrize("start", ["pending_new", "new", "partially_filled", "done_for_day"])
@pytest.mark.parametrize("pending", [Pending.CANCEL, Pending.REPLACE])
def test_pending_request_when_outstanding_then_status_is_pending_over_working(start: str, pending: Pending) -> None:
    desk, order = _with_pending(pending, start)
    working = order.working
    assert working is STARTS[start][1]
    assert order.status is (S.PENDING_CANCEL if pending is Pending.CANCEL else S.PENDING_REPLACE)
    # The answer clears the request and the working status shows again.
    if pending is Pending.CANCEL:
        desk.cancel_rejected(order.order_id)
    else:
        desk.replace_rejected(order.order_id)
    assert order.pending is None
    assert order.status is working


def test_fill_when_cancel_pending_then_pending_cancel_outranks_filled() -> None:
    desk, order = _with_pending(Pending.CANCEL)
    desk.fill(order.order_id, "60", "230.03")
    assert order.working is S.FILLED
    assert order.status is S.PENDING_CANCEL
    desk.cancel_rejected(order.order_id)
    assert order.status is S.FILLED


def test_fill_when_replace_pending_then_pending_replace_outranks_partially_filled() -> None:
    desk, order = _with_pending(Pending.REPLACE, "new")
    desk.fill(order.order_id, "10", "230.03")
    assert order.working is S.PARTIALLY_FILLED
    assert order.status is S.PENDING_REPLACE


# --- terminal statuses stay terminal ----------------------------------------------------------

TERMINAL_STARTS = {S.FILLED: "filled", S.CANCELED: "canceled", S.REJECTED: "rejected", S.EXPIRED: "expired"}

# What each command would make of a terminal order, if the engine let it through.
Sender = Callable[[Desk, Order], list[ev.Event]]
COMMANDS: list[tuple[str, type[ev.Event] | None, Sender]] = [
    ("VenueAccepted", ev.OrderAcknowledged, lambda d, o: d.ack(o.order_id)),
    ("VenueRejected", ev.OrderCanceled, lambda d, o: d.venue_rejected(o.order_id)),
    ("VenueFilled", ev.OrderFilled, lambda d, o: d.fill(o.order_id, "10", "230.00", "EX-LATE")),
    ("VenueCanceled", ev.OrderCanceled, lambda d, o: d.venue_canceled(o.order_id)),
    ("VenueReplaced", ev.OrderReplaced, lambda d, o: d.venue_replaced(o.order_id, "150", "230.10")),
    ("VenueExpired", ev.OrderExpired, lambda d, o: d.venue_expired(o.order_id)),
    ("VenueCancelRejected", ev.CancelRejected, lambda d, o: d.cancel_rejected(o.order_id)),
    ("VenueReplaceRejected", ev.ReplaceRejected, lambda d, o: d.replace_rejected(o.order_id)),
    ("VenueTradeBustedUnknown", ev.TradeBusted, lambda d, o: d.bust("E-UNKNOWN")),
    ("VenueTradeCorrectedUnknown", ev.TradeCorrected, lambda d, o: d.correct("E-UNKNOWN", "10", "230.00")),
    ("CancelOrder", ev.CancelRequested, lambda d, o: d.cancel(o.order_id, "C-LATE")),
    ("ReplaceOrder", ev.ReplaceRequested, lambda d, o: d.replace(o.order_id, "R-LATE", qty="150")),
    ("EndOfDay", ev.OrderExpired, lambda d, o: d.end_of_day()),
    ("StartOfDay", ev.OrderRestated, lambda d, o: d.start_of_day()),
]
ENGINE_LEVEL = (ev.CommandRejected, ev.DayEnded, ev.DayStarted)


def _terminal_cases() -> list[tuple[OrdStatus, str]]:
    cases = []
    for status in TERMINAL_STARTS:
        for name, kind, _ in COMMANDS:
            if kind is not None and (status, kind) in WORKING:
                continue  # in the table: covered by the row tests
            cases.append((status, name))
    return cases


@pytest.mark.parametrize(("status", "command"), _terminal_cases(), ids=lambda v: getattr(v, "value", v))
def test_terminal_when_event_not_in_table_then_engine_changes_nothing(status: OrdStatus, command: str) -> None:
    desk, order = build(TERMINAL_STARTS[status])
    assert status in TERMINAL
    sender = next(s for n, _, s in COMMANDS if n == command)
    before = snapshot(desk.engine)
    seq_before = desk.engine.seq

    events = sender(desk, order)

    assert all(isinstance(e, ENGINE_LEVEL) for e in events), events
    for rejection in (e for e in events if isinstance(e, ev.CommandRejected)):
        assert rejection.reason.code in (RejectCode.UNEXPECTED_REPORT, RejectCode.TOO_LATE)
    assert [e.seq for e in events] == list(range(seq_before + 1, seq_before + 1 + len(events)))
    after = snapshot(desk.engine)
    assert without_history(after) == without_history(before)
    assert order.working is status
    assert order.status is status


@pytest.mark.parametrize("status", list(TERMINAL_STARTS))
def test_terminal_when_client_cancels_or_replaces_then_too_late(status: OrdStatus) -> None:
    desk, order = build(TERMINAL_STARTS[status])
    for events in (desk.cancel(order.order_id), desk.replace(order.order_id, "R-LATE", qty="150")):
        assert len(events) == 1
        rejection = events[0]
        assert isinstance(rejection, ev.CommandRejected)
        assert rejection.reason.code is RejectCode.TOO_LATE
        assert CXL_REJ_REASON[rejection.reason.code] == 0
        assert rejection.order_id == OrderId(order.order_id)
    assert order.working is status


def test_terminal_set_is_filled_canceled_rejected_expired() -> None:
    assert {s for s in OrdStatus if s.is_terminal} == {S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED}
    assert not S.DONE_FOR_DAY.is_terminal
