"""Engine scenarios after FIX 4.4 Volume 4, Appendix D (order state change matrices).

Each test drives the engine through one conversation (client commands and venue reports) and
checks OrdStatus, CumQty, LeavesQty, AvgPx and positions at each step, and that the state is
exactly what a replay of the emitted events rebuilds.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from builders import ACTOR, DAY, T0, D, Desk, only_rejection, replay, replay_codec, snapshot, without_history
from openoms.domain import commands as cmd
from openoms.domain import events as ev
from openoms.domain.ids import AccountId, ClientOrderId, OrderId, Symbol
from openoms.domain.lifecycle import OrdStatus, Pending
from openoms.domain.rejects import CXL_REJ_REASON, RejectCode
from openoms.domain.values import OrdType, Side, TimeInForce

S = OrdStatus


def assert_order(desk: Desk, oid: str, status: OrdStatus, qty: str, cum: str, leaves: str) -> None:
    order = desk.order(oid)
    assert (order.status, order.quantity, order.cum_qty, order.leaves_qty) == (status, D(qty), D(cum), D(leaves))


def assert_replays(desk: Desk) -> None:
    assert [e.seq for e in desk.events] == list(range(1, len(desk.events) + 1))
    assert snapshot(replay(desk.events)) == snapshot(desk.engine)
    assert snapshot(replay_codec(desk.events)) == snapshot(desk.engine)


def position(desk: Desk, account: str = "ACC-EQ-1", symbol: str = "AAPL") -> tuple[Decimal, Decimal]:
    p = desk.engine.positions[(AccountId(account), Symbol(symbol))]
    return p.quantity, p.cost


# --- fills ---------------------------------------------------------------------------------


def test_submit_when_acked_and_filled_then_filled_with_zero_leaves() -> None:
    desk = Desk()
    events = desk.submit("100", "230.00", cl_ord_id="A1")
    assert [type(e) for e in events] == [ev.OrderAccepted, ev.OrderRouted]
    oid = events[0].order_id
    assert oid == "O1"
    assert events[1].route_id == "O1-1"
    assert_order(desk, oid, S.PENDING_NEW, "100", "0", "100")

    assert [type(e) for e in desk.ack(oid)] == [ev.OrderAcknowledged]
    assert_order(desk, oid, S.NEW, "100", "0", "100")

    assert [type(e) for e in desk.fill(oid, "100", "230.00")] == [ev.OrderFilled]
    assert_order(desk, oid, S.FILLED, "100", "100", "0")
    order = desk.order(oid)
    assert order.avg_px == D("230.00")
    assert order.is_done
    assert oid not in desk.engine.live
    assert position(desk) == (D(100), D("23000.00"))
    assert_replays(desk)


def test_partial_fills_when_two_prices_then_avg_px_and_px_qty_sum_exact() -> None:
    desk = Desk()
    oid = desk.submit_ok("300", "230.05")
    desk.ack(oid)
    desk.fill(oid, "100", "230.01")
    assert_order(desk, oid, S.PARTIALLY_FILLED, "300", "100", "200")
    assert desk.order(oid).avg_px == D("230.01")

    desk.fill(oid, "200", "230.02")
    order = desk.order(oid)
    assert_order(desk, oid, S.FILLED, "300", "300", "0")
    assert order.px_qty_sum == D("69005.00")  # 23001 + 46004, exact
    assert str(order.px_qty_sum) == "69005.00"
    assert order.avg_px == D("69005.00") / D(300)
    assert str(order.avg_px).startswith("230.01666666666")
    assert order.avg_px.quantize(D("0.000001")) == D("230.016667")
    assert_replays(desk)


def test_fill_before_ack_then_ack_late_keeps_fill() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00")
    desk.fill(oid, "40", "230.00")
    assert_order(desk, oid, S.PARTIALLY_FILLED, "100", "40", "60")
    assert [type(e) for e in desk.ack(oid)] == [ev.OrderAcknowledged]
    assert_order(desk, oid, S.PARTIALLY_FILLED, "100", "40", "60")
    assert_replays(desk)


def test_fill_when_duplicate_exec_id_then_booked_once() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00")
    desk.ack(oid)
    assert len(desk.fill(oid, "40", "230.00", exec_id="X1")) == 1
    before = snapshot(desk.engine)
    assert desk.fill(oid, "40", "230.00", exec_id="X1") == []
    assert desk.fill(oid, "60", "231.00", exec_id="X1") == []  # same ExecID, different content: still a resend
    assert snapshot(desk.engine) == before
    assert_order(desk, oid, S.PARTIALLY_FILLED, "100", "40", "60")
    assert position(desk) == (D(40), D("9200.00"))
    assert_replays(desk)


@pytest.mark.parametrize(("qty", "px"), [("0", "230.00"), ("-10", "230.00"), ("10", "0"), ("10", "-1")])
def test_fill_when_non_positive_quantity_or_price_then_unexpected_report(qty: str, px: str) -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00")
    desk.ack(oid)
    before = snapshot(desk.engine)
    rejection = only_rejection(desk.fill(oid, qty, px))
    assert rejection.reason.code is RejectCode.UNEXPECTED_REPORT
    after = snapshot(desk.engine)
    assert without_history(after) == without_history(before)


def test_report_when_unknown_route_then_unexpected_report() -> None:
    desk = Desk()
    for events in (desk.ack("O99"), desk.fill("O99", "1", "1"), desk.venue_canceled("O99"), desk.venue_expired("O99"),
                   desk.venue_rejected("O99"), desk.venue_replaced("O99", "1", "1"), desk.cancel_rejected("O99"),
                   desk.replace_rejected("O99"), desk.bust("NOPE"), desk.correct("NOPE", "1", "1")):
        assert only_rejection(events).reason.code is RejectCode.UNEXPECTED_REPORT
    assert desk.engine.orders == {}
    assert_replays(desk)


# --- cancels -------------------------------------------------------------------------------


def test_cancel_when_new_then_pending_cancel_then_canceled() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00", cl_ord_id="A1")
    desk.ack(oid)
    events = desk.cancel(oid, "A2")
    assert [type(e) for e in events] == [ev.CancelRequested]
    assert events[0].route_id == "O1-1"
    assert_order(desk, oid, S.PENDING_CANCEL, "100", "0", "100")
    desk.venue_canceled(oid)
    assert_order(desk, oid, S.CANCELED, "100", "0", "0")
    order = desk.order(oid)
    assert (order.cl_ord_id, order.orig_cl_ord_id) == ("A2", "A1")
    assert order.open_route() is None
    assert oid not in desk.engine.live
    assert_replays(desk)


def test_cancel_when_not_acked_then_pending_cancel_survives_ack_then_canceled() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00")
    desk.cancel(oid)
    assert_order(desk, oid, S.PENDING_CANCEL, "100", "0", "100")
    desk.ack(oid)
    order = desk.order(oid)
    assert order.working is S.NEW
    assert_order(desk, oid, S.PENDING_CANCEL, "100", "0", "100")
    desk.venue_canceled(oid)
    assert_order(desk, oid, S.CANCELED, "100", "0", "0")
    assert_replays(desk)


def test_cancel_when_no_cl_ord_id_given_then_engine_derives_unique_one() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00", cl_ord_id="A1")
    events = desk.cancel(oid)
    cl = events[0].cl_ord_id
    assert cl.startswith("A1-C")
    assert (AccountId("ACC-EQ-1"), "2026-03-02", cl) in desk.engine.cl_ord_ids


def test_cancel_when_unknown_order_then_unknown_order_with_cxl_rej_reason_1() -> None:
    desk = Desk()
    rejection = only_rejection(desk.cancel("O42", "C1"))
    assert rejection.reason.code is RejectCode.UNKNOWN_ORDER
    assert CXL_REJ_REASON[rejection.reason.code] == 1
    assert (rejection.command, rejection.order_id, rejection.cl_ord_id) == ("CancelOrder", "O42", "C1")
    assert desk.engine.orders == {}
    replace = only_rejection(desk.replace("O42", "R1", qty="10"))
    assert replace.reason.code is RejectCode.UNKNOWN_ORDER
    assert_replays(desk)


def test_cancel_when_filled_then_too_late_with_cxl_rej_reason_0() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00")
    desk.ack(oid)
    desk.fill(oid, "100", "230.00")
    rejection = only_rejection(desk.cancel(oid, "C1"))
    assert rejection.reason.code is RejectCode.TOO_LATE
    assert CXL_REJ_REASON[rejection.reason.code] == 0
    assert_order(desk, oid, S.FILLED, "100", "100", "0")
    # the refused ClOrdID was not consumed
    assert (AccountId("ACC-EQ-1"), "2026-03-02", ClientOrderId("C1")) not in desk.engine.cl_ord_ids
    assert_replays(desk)


def test_cancel_when_cancel_already_pending_then_already_pending() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00")
    desk.ack(oid)
    desk.cancel(oid, "C1")
    rejection = only_rejection(desk.cancel(oid, "C2"))
    assert rejection.reason.code is RejectCode.ALREADY_PENDING
    assert CXL_REJ_REASON[rejection.reason.code] == 3
    assert only_rejection(desk.replace(oid, "R1", qty="200")).reason.code is RejectCode.ALREADY_PENDING
    order = desk.order(oid)
    assert (order.pending, order.pending_cl_ord_id) == (Pending.CANCEL, "C1")
    assert_replays(desk)


def test_cancel_when_partially_filled_then_keeps_filled_qty() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00")
    desk.ack(oid)
    desk.fill(oid, "30", "230.00")
    desk.cancel(oid, "C1")
    assert_order(desk, oid, S.PENDING_CANCEL, "100", "30", "70")
    desk.venue_canceled(oid)
    assert_order(desk, oid, S.CANCELED, "100", "30", "0")
    assert desk.order(oid).avg_px == D("230.00")
    assert position(desk) == (D(30), D("6900.00"))
    assert_replays(desk)


def test_cancel_when_venue_rejects_cancel_then_previous_status_resumes() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00", cl_ord_id="A1")
    desk.ack(oid)
    desk.fill(oid, "30", "230.00")
    desk.cancel(oid, "C1")
    events = desk.cancel_rejected(oid)
    assert [type(e) for e in events] == [ev.CancelRejected]
    assert events[0].cl_ord_id == "C1"
    assert_order(desk, oid, S.PARTIALLY_FILLED, "100", "30", "70")
    assert desk.order(oid).cl_ord_id == "A1"
    # the cancel's ClOrdID stays used for the day
    assert only_rejection(desk.cancel(oid, "C1")).reason.code is RejectCode.DUPLICATE_CL_ORD_ID
    assert_replays(desk)


def test_cancel_when_fill_completes_order_first_then_cancel_rejected_and_filled() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00")
    desk.ack(oid)
    desk.cancel(oid, "C1")
    desk.fill(oid, "100", "230.00")
    assert desk.order(oid).working is S.FILLED
    assert_order(desk, oid, S.PENDING_CANCEL, "100", "100", "0")
    desk.cancel_rejected(oid, RejectCode.TOO_LATE)
    assert_order(desk, oid, S.FILLED, "100", "100", "0")
    assert_replays(desk)


def test_venue_cancel_reject_when_nothing_pending_then_unexpected_report() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00")
    desk.ack(oid)
    assert only_rejection(desk.cancel_rejected(oid)).reason.code is RejectCode.UNEXPECTED_REPORT
    assert only_rejection(desk.replace_rejected(oid)).reason.code is RejectCode.UNEXPECTED_REPORT
    assert only_rejection(desk.venue_replaced(oid, "200", "230.00")).reason.code is RejectCode.UNEXPECTED_REPORT
    assert_order(desk, oid, S.NEW, "100", "0", "100")


# --- replaces ------------------------------------------------------------------------------


def test_replace_up_when_partially_filled_then_new_qty_and_leaves() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00", cl_ord_id="A1")
    desk.ack(oid)
    desk.fill(oid, "30", "230.00")
    events = desk.replace(oid, "A2", qty="150", price="230.05")
    assert [type(e) for e in events] == [ev.ReplaceRequested]
    assert (events[0].quantity, events[0].price, events[0].route_id) == (D(150), D("230.05"), "O1-1")
    assert_order(desk, oid, S.PENDING_REPLACE, "100", "30", "70")

    assert [type(e) for e in desk.venue_replaced(oid, "150", "230.05")] == [ev.OrderReplaced]
    assert_order(desk, oid, S.PARTIALLY_FILLED, "150", "30", "120")
    order = desk.order(oid)
    assert (order.cl_ord_id, order.orig_cl_ord_id, order.price) == ("A2", "A1", D("230.05"))
    desk.fill(oid, "120", "230.05")
    assert_order(desk, oid, S.FILLED, "150", "150", "0")
    assert_replays(desk)


def test_replace_down_when_partially_filled_then_smaller_leaves() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00")
    desk.ack(oid)
    desk.fill(oid, "30", "230.00")
    desk.replace(oid, "R1", qty="50")
    desk.venue_replaced(oid, "50", "230.00")
    assert_order(desk, oid, S.PARTIALLY_FILLED, "50", "30", "20")
    assert desk.order(oid).price == D("230.00")  # price not given: kept
    assert_replays(desk)


def test_replace_when_price_only_then_quantity_kept() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00")
    desk.ack(oid)
    events = desk.replace(oid, "R1", price="229.50")
    assert events[0].quantity == D(100)
    desk.venue_replaced(oid, "100", "229.50")
    assert_order(desk, oid, S.NEW, "100", "0", "100")
    assert desk.order(oid).price == D("229.50")


@pytest.mark.parametrize("new_qty", ["30", "20"], ids=["at_cum", "below_cum"])
def test_replace_when_quantity_at_or_below_cum_qty_then_filled(new_qty: str) -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00")
    desk.ack(oid)
    desk.fill(oid, "30", "230.00")
    desk.replace(oid, "R1", qty=new_qty)
    desk.venue_replaced(oid, new_qty, "230.00")
    assert_order(desk, oid, S.FILLED, new_qty, "30", "0")
    assert desk.order(oid).open_route() is None
    assert oid not in desk.engine.live
    assert_replays(desk)


def test_fill_when_replace_pending_then_original_qty_and_price_apply_until_replaced() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00", cl_ord_id="A1")
    desk.ack(oid)
    desk.replace(oid, "A2", qty="150", price="230.10")
    desk.fill(oid, "40", "230.00")
    order = desk.order(oid)
    assert_order(desk, oid, S.PENDING_REPLACE, "100", "40", "60")
    assert (order.price, order.cl_ord_id, order.pending_cl_ord_id) == (D("230.00"), "A1", "A2")
    desk.venue_replaced(oid, "150", "230.10")
    assert_order(desk, oid, S.PARTIALLY_FILLED, "150", "40", "110")
    assert (order.price, order.cl_ord_id) == (D("230.10"), "A2")
    assert_replays(desk)


def test_replace_when_crossed_by_completing_fill_then_replace_rejected_and_filled() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00", cl_ord_id="A1")
    desk.ack(oid)
    desk.replace(oid, "A2", qty="150")
    desk.fill(oid, "100", "230.00")
    assert desk.order(oid).working is S.FILLED
    assert_order(desk, oid, S.PENDING_REPLACE, "100", "100", "0")
    # the venue can no longer confirm it
    assert only_rejection(desk.venue_replaced(oid, "150", "230.00")).reason.code is RejectCode.UNEXPECTED_REPORT
    events = desk.replace_rejected(oid, RejectCode.TOO_LATE)
    assert [type(e) for e in events] == [ev.ReplaceRejected]
    assert_order(desk, oid, S.FILLED, "100", "100", "0")
    assert desk.order(oid).cl_ord_id == "A1"
    assert_replays(desk)


def test_replace_when_invalid_terms_then_rejected_and_nothing_pending() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00")
    desk.ack(oid)
    before = snapshot(desk.engine)
    for qty, price, code in [("0", None, RejectCode.INVALID_QUANTITY), ("10.5", None, RejectCode.LOT_SIZE_VIOLATION),
                             (None, "230.001", RejectCode.TICK_SIZE_VIOLATION), (None, "-1", RejectCode.INVALID_PRICE)]:
        assert only_rejection(desk.replace(oid, f"R-{qty}-{price}", qty=qty, price=price)).reason.code is code
    after = snapshot(desk.engine)
    assert without_history(after) == without_history(before)


def test_replace_when_market_order_given_price_then_invalid_price() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", None, ord_type=OrdType.MARKET)
    assert only_rejection(desk.replace(oid, "R1", price="230.00")).reason.code is RejectCode.INVALID_PRICE


def test_replace_when_empty_cl_ord_id_then_rejected() -> None:
    """Submit refuses an empty ClOrdID; a replace must too (it becomes the order's ClOrdID)."""
    desk = Desk()
    oid = desk.submit_ok("100", "230.00", cl_ord_id="A1")
    desk.ack(oid)
    events = desk.replace(oid, "", qty="150")
    assert len(events) == 1 and isinstance(events[0], ev.CommandRejected), events
    assert desk.order(oid).pending is None


# --- ClOrdID uniqueness (per account and trade date) ---------------------------------------


def test_submit_when_duplicate_cl_ord_id_then_rejected() -> None:
    desk = Desk()
    desk.submit_ok("100", "230.00", cl_ord_id="A1")
    before = snapshot(desk.engine)
    rejection = only_rejection(desk.submit("50", "230.00", cl_ord_id="A1"))
    assert rejection.reason.code is RejectCode.DUPLICATE_CL_ORD_ID
    assert CXL_REJ_REASON[rejection.reason.code] == 6
    assert (rejection.cl_ord_id, rejection.account) == ("A1", "ACC-EQ-1")
    after = snapshot(desk.engine)
    assert without_history(after) == without_history(before)


def test_submit_when_same_cl_ord_id_on_other_account_then_accepted() -> None:
    desk = Desk()
    desk.submit_ok("100", "230.00", cl_ord_id="A1", account="ACC-EQ-1")
    other = desk.submit_ok("100", "230.00", cl_ord_id="A1", account="ACC-EQ-2")
    assert desk.order(other).cl_ord_id == "A1"


def test_submit_when_same_cl_ord_id_next_trade_date_then_accepted() -> None:
    desk = Desk()
    desk.submit_ok("100", "230.00", cl_ord_id="A1")
    desk.next_day()
    desk.submit_ok("100", "230.00", cl_ord_id="A1")


@pytest.mark.parametrize("used", ["A1", "C1", "R1"], ids=["order", "cancel", "replace"])
def test_replace_when_cl_ord_id_already_used_then_duplicate(used: str) -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00", cl_ord_id="A1")
    other = desk.submit_ok("100", "230.00", cl_ord_id="B1")
    desk.ack(oid)
    desk.ack(other)
    desk.cancel(other, "C1")
    desk.replace(oid, "R1", qty="150")
    desk.replace_rejected(oid)
    rejection = only_rejection(desk.replace(oid, used, qty="120"))
    assert rejection.reason.code is RejectCode.DUPLICATE_CL_ORD_ID
    assert desk.order(oid).pending is None
    # and a new order cannot take a ClOrdID used by a cancel or replace either
    assert only_rejection(desk.submit("1", "230.00", cl_ord_id=used)).reason.code is RejectCode.DUPLICATE_CL_ORD_ID


def test_replace_on_later_day_then_its_cl_ord_id_is_reserved_for_that_day() -> None:
    """A GTC order replaced on day 2 uses ClOrdID "B" on day 2: a new order on day 2 must not reuse it."""
    desk = Desk()
    oid = desk.submit_ok("100", "230.00", cl_ord_id="A", tif=TimeInForce.GTC)
    desk.ack(oid)
    desk.end_of_day()
    desk.next_day()
    desk.start_of_day()
    assert desk.order(oid).status is S.NEW
    desk.replace(oid, "B", qty="200")
    desk.venue_replaced(oid, "200", "230.00")
    assert desk.order(oid).cl_ord_id == "B"

    rejection = only_rejection(desk.submit("100", "230.00", cl_ord_id="B"))
    assert rejection.reason.code is RejectCode.DUPLICATE_CL_ORD_ID


# --- time in force ---------------------------------------------------------------------------


def test_ioc_when_partially_filled_then_venue_cancels_remainder_and_cum_kept() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00", tif=TimeInForce.IOC)
    desk.ack(oid)
    desk.fill(oid, "40", "230.00")
    desk.venue_canceled(oid, "ioc remainder")
    assert_order(desk, oid, S.CANCELED, "100", "40", "0")
    assert desk.order(oid).text == "ioc remainder"
    assert position(desk) == (D(40), D("9200.00"))
    assert_replays(desk)


def test_fok_when_not_filled_then_canceled_without_fills() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00", tif=TimeInForce.FOK)
    desk.ack(oid)
    desk.venue_canceled(oid, "fok not filled")
    assert_order(desk, oid, S.CANCELED, "100", "0", "0")
    assert desk.order(oid).executions == {}
    assert desk.engine.positions == {}
    assert_replays(desk)


def test_end_of_day_when_day_orders_then_expired() -> None:
    desk = Desk()
    unacked = desk.submit_ok("100", "230.00")
    new = desk.submit_ok("100", "230.00")
    partial = desk.submit_ok("100", "230.00")
    desk.ack(new)
    desk.ack(partial)
    desk.fill(partial, "40", "230.00")
    events = desk.end_of_day()
    assert [type(e) for e in events] == [ev.OrderExpired] * 3 + [ev.DayEnded]
    assert events[-1].trade_date == "2026-03-02"
    assert_order(desk, unacked, S.EXPIRED, "100", "0", "0")
    assert_order(desk, new, S.EXPIRED, "100", "0", "0")
    assert_order(desk, partial, S.EXPIRED, "100", "40", "0")
    assert desk.engine.live == {}
    assert_replays(desk)


def test_end_of_day_when_gtc_then_done_for_day_and_start_of_day_restates() -> None:
    desk = Desk()
    new = desk.submit_ok("100", "230.00", tif=TimeInForce.GTC)
    partial = desk.submit_ok("100", "230.00", tif=TimeInForce.GTC)
    desk.ack(new)
    desk.ack(partial)
    desk.fill(partial, "40", "230.00")
    events = desk.end_of_day()
    assert [type(e) for e in events] == [ev.OrderDoneForDay, ev.OrderDoneForDay, ev.DayEnded]
    assert_order(desk, new, S.DONE_FOR_DAY, "100", "0", "0")
    assert_order(desk, partial, S.DONE_FOR_DAY, "100", "40", "0")
    assert {new, partial} == set(desk.engine.live)  # still alive for tomorrow
    # Done for day: a late execution the venue still reports is booked; the order stays DoneForDay
    late = desk.fill(partial, "10", "230.00")
    assert [type(e) for e in late] == [ev.OrderFilled]
    assert_order(desk, partial, S.DONE_FOR_DAY, "100", "50", "0")

    desk.next_day()
    events = desk.start_of_day()
    assert [type(e) for e in events] == [ev.OrderRestated, ev.OrderRestated, ev.DayStarted]
    assert events[-1].trade_date == "2026-03-03"
    assert_order(desk, new, S.NEW, "100", "0", "100")
    assert_order(desk, partial, S.PARTIALLY_FILLED, "100", "50", "50")
    desk.fill(partial, "50", "230.00")
    assert_order(desk, partial, S.FILLED, "100", "100", "0")
    assert_replays(desk)


def test_cancel_when_done_for_day_then_canceled() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00", tif=TimeInForce.GTC)
    desk.ack(oid)
    desk.fill(oid, "40", "230.00")
    desk.end_of_day()
    desk.cancel(oid, "C1")
    assert desk.order(oid).status is S.PENDING_CANCEL
    desk.venue_canceled(oid)
    assert_order(desk, oid, S.CANCELED, "100", "40", "0")
    assert_replays(desk)


def test_gtd_when_expiry_after_end_of_day_then_done_for_day_then_expired_next_eod() -> None:
    desk = Desk()
    expire_at = T0 + DAY + 3_600_000_000_000  # tomorrow, an hour later
    oid = desk.submit_ok("100", "230.00", tif=TimeInForce.GTD, expire_at=expire_at)
    desk.ack(oid)
    desk.end_of_day()
    assert_order(desk, oid, S.DONE_FOR_DAY, "100", "0", "0")
    desk.next_day()
    desk.start_of_day()
    assert_order(desk, oid, S.NEW, "100", "0", "100")
    desk.send(cmd.EndOfDay(actor=ACTOR), now=expire_at + 1)
    assert_order(desk, oid, S.EXPIRED, "100", "0", "0")
    assert_replays(desk)


def test_gtd_when_expiry_before_end_of_day_then_expired() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00", tif=TimeInForce.GTD, expire_at=T0 + 60_000_000_000)
    desk.ack(oid)
    desk.fill(oid, "10", "230.00")
    desk.send(cmd.EndOfDay(actor=ACTOR), now=T0 + 60_000_000_000)  # expire_at == now: expired
    assert_order(desk, oid, S.EXPIRED, "100", "10", "0")
    assert_replays(desk)


def test_venue_expired_when_working_then_expired_and_pending_cancel_answered() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00")
    desk.ack(oid)
    desk.cancel(oid, "C1")
    desk.venue_expired(oid)
    assert_order(desk, oid, S.EXPIRED, "100", "0", "0")
    assert desk.order(oid).pending is None


def test_venue_rejected_when_pending_new_then_rejected() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00")
    events = desk.venue_rejected(oid, "halted")
    assert [type(e) for e in events] == [ev.OrderRejected]
    assert_order(desk, oid, S.REJECTED, "100", "0", "0")
    assert desk.order(oid).text == "halted"
    assert oid not in desk.engine.live


def test_venue_rejected_when_partially_filled_then_remainder_canceled_fills_stand() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00")
    desk.fill(oid, "40", "230.00")
    events = desk.venue_rejected(oid, "halted")
    assert [type(e) for e in events] == [ev.OrderCanceled]
    assert_order(desk, oid, S.CANCELED, "100", "40", "0")
    assert_replays(desk)


# --- busts and corrections -------------------------------------------------------------------


def test_bust_when_filled_then_partially_filled_and_position_unwound() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.05")
    desk.ack(oid)
    desk.fill(oid, "60", "230.01", exec_id="X1")
    desk.fill(oid, "40", "230.02", exec_id="X2")
    assert_order(desk, oid, S.FILLED, "100", "100", "0")
    assert oid not in desk.engine.live

    events = desk.bust("X2")
    assert [type(e) for e in events] == [ev.TradeBusted]
    order = desk.order(oid)
    assert_order(desk, oid, S.PARTIALLY_FILLED, "100", "60", "40")
    assert order.px_qty_sum == D("13800.60")
    assert order.avg_px == D("230.01")
    assert order.executions["X2"].busted
    assert oid in desk.engine.live
    assert position(desk) == (D(60), D("13800.60"))
    # the busted ExecID is dead: a second bust or a correction of it is refused, a resend is ignored
    assert only_rejection(desk.bust("X2")).reason.code is RejectCode.UNEXPECTED_REPORT
    assert only_rejection(desk.correct("X2", "40", "230.02")).reason.code is RejectCode.UNEXPECTED_REPORT
    assert desk.fill(oid, "40", "230.02", exec_id="X2") == []
    # the reopened order can be canceled although its route is done
    events = desk.cancel(oid, "C1")
    assert [type(e) for e in events] == [ev.CancelRequested, ev.OrderCanceled]
    assert_order(desk, oid, S.CANCELED, "100", "60", "0")
    assert_replays(desk)


def test_bust_when_only_fill_then_new() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00")
    desk.ack(oid)
    desk.fill(oid, "100", "230.00", exec_id="X1")
    desk.bust("X1")
    assert_order(desk, oid, S.NEW, "100", "0", "100")
    assert desk.order(oid).avg_px == 0
    assert position(desk) == (D(0), D(0))
    assert_replays(desk)


def test_bust_after_cancel_then_stays_canceled() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00")
    desk.ack(oid)
    desk.fill(oid, "40", "230.00", exec_id="X1")
    desk.fill(oid, "20", "230.01", exec_id="X2")
    desk.cancel(oid, "C1")
    desk.venue_canceled(oid)
    desk.bust("X1")
    assert_order(desk, oid, S.CANCELED, "100", "20", "0")
    assert oid not in desk.engine.live
    assert position(desk) == (D(20), D("4600.20"))
    assert_replays(desk)


def test_correction_when_filled_then_cum_avg_px_and_position_change() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.05")
    desk.ack(oid)
    desk.fill(oid, "60", "230.01", exec_id="X1")
    desk.fill(oid, "40", "230.02", exec_id="X2")
    events = desk.correct("X1", "50", "230.00")
    assert [type(e) for e in events] == [ev.TradeCorrected]
    order = desk.order(oid)
    assert_order(desk, oid, S.PARTIALLY_FILLED, "100", "90", "10")
    assert order.px_qty_sum == D("11500.00") + D("9200.80")
    assert order.avg_px == D("20700.80") / D(90)
    assert (order.executions["X1"].quantity, order.executions["X1"].price) == (D(50), D("230.00"))
    assert position(desk) == (D(90), D("20700.80"))
    # a price-only correction on the remaining fill keeps CumQty
    desk.correct("X2", "40", "230.03")
    assert order.cum_qty == D(90)
    assert order.px_qty_sum == D("11500.00") + D("9201.20")
    assert_replays(desk)


def test_correction_when_non_positive_then_unexpected_report() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00")
    desk.fill(oid, "40", "230.00", exec_id="X1")
    assert only_rejection(desk.correct("X1", "0", "230.00")).reason.code is RejectCode.UNEXPECTED_REPORT
    assert only_rejection(desk.correct("X1", "10", "-1")).reason.code is RejectCode.UNEXPECTED_REPORT
    assert desk.order(oid).cum_qty == D(40)


def test_sell_when_filled_then_position_short() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00", side=Side.SELL_SHORT)
    desk.fill(oid, "100", "230.00")
    assert position(desk) == (D(-100), D("-23000.00"))


# --- validation: every refusal is one CommandRejected and no state change -------------------

NOW = T0
REJECTS: list[tuple[str, dict[str, object], RejectCode]] = [
    ("unknown account", {"account": "ACC-NOPE"}, RejectCode.UNKNOWN_ACCOUNT),
    ("unknown instrument", {"symbol": "NOPE"}, RejectCode.UNKNOWN_INSTRUMENT),
    ("unknown trader", {"actor": cmd.Actor("mallory", "test")}, RejectCode.UNKNOWN_TRADER),
    ("trader not permitted", {"actor": cmd.Actor("bob", "test"), "account": "ACC-EQ-1"}, RejectCode.NOT_PERMITTED),
    ("alice on the bond account", {"actor": cmd.Actor("alice", "test"), "account": "ACC-FI-1"}, RejectCode.NOT_PERMITTED),
    ("empty cl_ord_id", {"cl_ord_id": ""}, RejectCode.INVALID_CL_ORD_ID),
    ("zero quantity", {"qty": "0"}, RejectCode.INVALID_QUANTITY),
    ("negative quantity", {"qty": "-100"}, RejectCode.INVALID_QUANTITY),
    ("NaN quantity", {"qty": "NaN"}, RejectCode.INVALID_QUANTITY),
    ("sNaN quantity", {"qty": "sNaN"}, RejectCode.INVALID_QUANTITY),
    ("infinite quantity", {"qty": "Infinity"}, RejectCode.INVALID_QUANTITY),
    ("huge quantity", {"qty": "1000000000001"}, RejectCode.INVALID_QUANTITY),
    ("absurd quantity", {"qty": "1E+999999"}, RejectCode.INVALID_QUANTITY),
    ("fractional share", {"qty": "100.5"}, RejectCode.LOT_SIZE_VIOLATION),
    ("bond odd lot", {"qty": "1500", "symbol": "UST-10Y", "price": "99.5", "account": "ACC-FI-1"}, RejectCode.LOT_SIZE_VIOLATION),
    ("sub-penny", {"price": "230.001"}, RejectCode.TICK_SIZE_VIOLATION),
    ("bond off 1/128", {"qty": "1000", "symbol": "UST-10Y", "price": "99.51", "account": "ACC-FI-1"}, RejectCode.TICK_SIZE_VIOLATION),
    ("future off quarter", {"qty": "1", "symbol": "ESZ6", "price": "6000.10"}, RejectCode.TICK_SIZE_VIOLATION),
    ("zero price", {"price": "0"}, RejectCode.INVALID_PRICE),
    ("negative price", {"price": "-230.00"}, RejectCode.INVALID_PRICE),
    ("NaN price", {"price": "NaN"}, RejectCode.INVALID_PRICE),
    ("huge price", {"price": "1000000000.01"}, RejectCode.INVALID_PRICE),
    ("market with price", {"ord_type": OrdType.MARKET, "price": "230.00"}, RejectCode.INVALID_PRICE),
    ("limit without price", {"price": None}, RejectCode.INVALID_PRICE),
    ("stop without stop_price", {"ord_type": OrdType.STOP, "price": None}, RejectCode.INVALID_PRICE),
    ("stop limit without stop_price", {"ord_type": OrdType.STOP_LIMIT}, RejectCode.INVALID_PRICE),
    ("stop_price off tick", {"ord_type": OrdType.STOP, "price": None, "stop_price": "229.995"}, RejectCode.TICK_SIZE_VIOLATION),
    ("limit with stop_price", {"stop_price": "229.00"}, RejectCode.INVALID_PRICE),
    ("GTD without expire_at", {"tif": TimeInForce.GTD}, RejectCode.INVALID_TIME_IN_FORCE),
    ("GTD in the past", {"tif": TimeInForce.GTD, "expire_at": NOW - 1}, RejectCode.INVALID_TIME_IN_FORCE),
    ("GTD expiring now", {"tif": TimeInForce.GTD, "expire_at": NOW}, RejectCode.INVALID_TIME_IN_FORCE),
    ("DAY with expire_at", {"expire_at": NOW + DAY}, RejectCode.INVALID_TIME_IN_FORCE),
    ("IOC stop", {"tif": TimeInForce.IOC, "ord_type": OrdType.STOP, "price": None, "stop_price": "229.00"}, RejectCode.INVALID_TIME_IN_FORCE),
    ("FOK stop limit", {"tif": TimeInForce.FOK, "ord_type": OrdType.STOP_LIMIT, "stop_price": "229.00"}, RejectCode.INVALID_TIME_IN_FORCE),
    ("duplicate cl_ord_id", {"cl_ord_id": "SEED"}, RejectCode.DUPLICATE_CL_ORD_ID),
]


def _seeded_desk() -> Desk:
    """A desk with some state to (not) disturb: one order with a fill and a position."""
    desk = Desk(now=NOW - 10 * 1_000_000)
    oid = desk.submit_ok("100", "230.00", cl_ord_id="SEED")
    desk.ack(oid)
    desk.fill(oid, "10", "230.00")
    desk.now = NOW
    return desk


@pytest.mark.parametrize(("label", "fields", "code"), REJECTS, ids=[r[0].replace(" ", "_") for r in REJECTS])
def test_submit_when_invalid_then_one_command_rejected_and_no_state_change(label: str, fields: dict[str, object], code: RejectCode) -> None:
    desk = _seeded_desk()
    before = snapshot(desk.engine)
    kwargs = dict(fields)
    qty = kwargs.pop("qty", "100")
    price = kwargs.pop("price", "230.00")
    kwargs.setdefault("cl_ord_id", "NEW1")
    events = desk.submit(qty, price, **kwargs)  # type: ignore[arg-type]

    rejection = only_rejection(events)
    assert rejection.reason.code is code, rejection.reason
    assert rejection.command == "SubmitOrder"
    assert rejection.order_id is None
    assert rejection.seq == before["seq"] + 1
    assert rejection.reason.message
    after = snapshot(desk.engine)
    assert after["seq"] == before["seq"] + 1
    assert without_history(after) == without_history(before)
    assert desk.engine.order_count == 1
    assert_replays(desk)


@pytest.mark.parametrize(
    ("fields", "label"),
    [
        ({"qty": "1000000", "symbol": "UST-10Y", "price": "99.5078125", "account": "ACC-FI-1"}, "bond at 99 65/128"),
        ({"qty": "1000", "symbol": "UST-10Y", "price": "100.9921875", "account": "ACC-FI-1", "actor": cmd.Actor("bob", "t")}, "bob on his account"),
        ({"qty": "1", "symbol": "ESZ6", "price": "6000.25"}, "future on the quarter tick"),
        ({"qty": "3", "symbol": "AAPL261218C00230000", "price": "12.55"}, "option"),
        ({"qty": "1000000000000"}, "quantity at the maximum"),
        ({"ord_type": OrdType.MARKET, "price": None, "tif": TimeInForce.IOC}, "IOC market"),
        ({"ord_type": OrdType.STOP, "price": None, "stop_price": "229.00", "tif": TimeInForce.GTC}, "GTC stop"),
        ({"ord_type": OrdType.STOP_LIMIT, "stop_price": "229.00"}, "stop limit"),
        ({"tif": TimeInForce.GTD, "expire_at": NOW + 1}, "GTD one ns ahead"),
        ({"actor": cmd.Actor("alice", "t"), "account": "ACC-EQ-2"}, "alice on her account"),
        ({"qty": "100.0", "price": "230.000"}, "trailing zeros on the grid"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_submit_when_valid_edge_then_accepted(fields: dict[str, object], label: str) -> None:
    desk = Desk(now=NOW)
    kwargs = dict(fields)
    qty = kwargs.pop("qty", "100")
    price = kwargs.pop("price", "230.00")
    events = desk.submit(qty, price, **kwargs)  # type: ignore[arg-type]
    assert [type(e) for e in events] == [ev.OrderAccepted, ev.OrderRouted], events
    accepted = events[0]
    assert accepted.trader == kwargs.get("actor", ACTOR).user  # type: ignore[union-attr]
    assert accepted.trade_date == "2026-03-02"
    assert desk.order(accepted.order_id).status is S.PENDING_NEW
    assert_replays(desk)


def test_order_ids_are_sequential_and_rejections_do_not_consume_them() -> None:
    desk = Desk()
    assert desk.submit_ok() == "O1"
    only_rejection(desk.submit("0"))
    assert desk.submit_ok() == "O2"
    assert desk.engine.order_for_route(desk.order("O2").open_route().route_id) is desk.order("O2")  # type: ignore[union-attr]
    assert desk.engine.orders[OrderId("O1")].order_id == "O1"
