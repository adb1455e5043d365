"""Scenarios for the pure simulated order book: matching, time in force, stops, replace, cancel."""

from __future__ import annotations

from decimal import Decimal

import pytest
from venue_testkit import ROUND_LOT, STOCK, D, filled, fills, quote, route

from openoms.domain.ids import RouteId
from openoms.domain.rejects import RejectCode
from openoms.domain.values import Liquidity, OrdType, TimeInForce
from openoms.venues.simulated.book import (
    Ack,
    Canceled,
    CancelReject,
    Fill,
    OrderBook,
    Rejected,
    Replaced,
    ReplaceReject,
)

R = RouteId


def book_with(*resting: tuple[str, str, int, str]) -> OrderBook:
    """A book with no market data holding the given (route_id, side, qty, price) limit orders."""
    book = OrderBook(STOCK)
    for route_id, side, qty, price in resting:
        reports = book.submit(route(route_id, side, qty, price))
        assert reports == [Ack(R(route_id))]
    return book


# --- resting and internal matching ---------------------------------------------------------


def test_limit_buy_below_the_market_is_acked_and_rests() -> None:
    book = OrderBook(STOCK)
    book.on_quote(quote([("99.99", 100)], [("100.01", 100)]))
    assert book.submit(route("B1", "buy", 10, "99.50")) == [Ack(R("B1"))]
    assert book.depth() == ([(D("99.50"), D(10))], [])
    assert book.is_live(R("B1"))


def test_buy_matches_resting_sells_in_price_time_priority() -> None:
    book = book_with(("S1", "sell", 10, "100.02"), ("S2", "sell", 10, "100.01"), ("S3", "sell", 10, "100.01"))
    reports = book.submit(route("B1", "buy", 25, "100.02"))
    # Best price first (S2 then S3 at 100.01, S2 arrived first), then S1 at 100.02.
    assert [(f.counter_route_id, f.qty, f.price) for f in fills(reports, "B1")] == [
        ("S2", D(10), D("100.01")),
        ("S3", D(10), D("100.01")),
        ("S1", D(5), D("100.02")),
    ]
    assert book.leaves(R("S1")) == D(5)
    assert not book.is_live(R("B1"))


def test_incoming_order_gets_the_price_improvement_at_the_resting_price() -> None:
    book = book_with(("S1", "sell", 10, "100.00"))
    reports = book.submit(route("B1", "buy", 10, "101.00"))
    assert filled(reports, "B1") == [(D(10), D("100.00"))]
    assert filled(reports, "S1") == [(D(10), D("100.00"))]
    taker, maker = fills(reports, "B1")[0], fills(reports, "S1")[0]
    assert (taker.liquidity, maker.liquidity) == (Liquidity.REMOVED, Liquidity.ADDED)
    assert (taker.counter_route_id, maker.counter_route_id) == ("S1", "B1")


def test_partial_fill_leaves_the_remainder_resting_at_its_limit() -> None:
    book = book_with(("S1", "sell", 4, "100.00"))
    reports = book.submit(route("B1", "buy", 10, "100.00"))
    assert filled(reports, "B1") == [(D(4), D("100.00"))]
    assert fills(reports, "B1")[0].leaves == D(6)
    assert book.depth() == ([(D("100.00"), D(6))], [])


def test_sell_short_matches_like_a_sell() -> None:
    book = book_with(("B1", "buy", 10, "100.00"))
    reports = book.submit(route("SS1", "sell_short", 10, "100.00"))
    assert filled(reports, "SS1") == [(D(10), D("100.00"))]


def test_limit_order_without_market_data_rests_and_still_crosses_internally() -> None:
    book = OrderBook(STOCK)
    assert book.submit(route("S1", "sell", 10, "100.00")) == [Ack(R("S1"))]
    reports = book.submit(route("B1", "buy", 10, "100.00"))
    assert filled(reports, "B1") == [(D(10), D("100.00"))]


# --- external liquidity ----------------------------------------------------------------------


def test_marketable_buy_takes_displayed_depth_up_to_its_limit() -> None:
    book = OrderBook(STOCK)
    book.on_quote(quote([("99.99", 100)], [("100.00", 30), ("100.01", 30), ("100.02", 30)]))
    reports = book.submit(route("B1", "buy", 100, "100.01"))
    assert filled(reports, "B1") == [(D(30), D("100.00")), (D(30), D("100.01"))]
    assert book.depth() == ([(D("100.01"), D(40))], [])


def test_internal_liquidity_is_taken_before_the_quote() -> None:
    book = OrderBook(STOCK)
    book.on_quote(quote([("99.00", 100)], [("100.00", 100)]))
    book.submit(route("S1", "sell", 10, "100.01"))  # behind the quote, but it is ours
    reports = book.submit(route("B1", "buy", 20, "100.01"))
    assert [(f.counter_route_id, f.qty, f.price) for f in fills(reports, "B1")] == [
        ("S1", D(10), D("100.01")),
        (None, D(10), D("100.00")),
    ]


def test_displayed_liquidity_is_not_consumed_twice_until_the_next_quote() -> None:
    book = OrderBook(STOCK)
    book.on_quote(quote([("99.99", 100)], [("100.00", 50)]))
    first = book.submit(route("B1", "buy", 40, "100.00"))
    second = book.submit(route("B2", "buy", 40, "100.00"))
    assert filled(first, "B1") == [(D(40), D("100.00"))]
    assert filled(second, "B2") == [(D(10), D("100.00"))]
    assert book.leaves(R("B2")) == D(30)


def test_new_quote_refreshes_liquidity_and_fills_resting_orders_that_cross() -> None:
    book = OrderBook(STOCK)
    book.on_quote(quote([("99.99", 100)], [("100.00", 50)]))
    book.submit(route("B1", "buy", 80, "100.00"))  # 50 fill, 30 rest
    reports = book.on_quote(quote([("99.99", 100)], [("100.00", 50)]))
    assert filled(reports, "B1") == [(D(30), D("100.00"))]
    assert fills(reports, "B1")[0].liquidity is Liquidity.ADDED


def test_on_quote_fills_resting_orders_in_price_time_priority_at_the_quote_prices() -> None:
    book = book_with(("B1", "buy", 10, "100.00"), ("B2", "buy", 10, "100.05"), ("B3", "buy", 10, "100.05"))
    book.submit(route("S1", "sell", 10, "101.00"))
    reports = book.on_quote(quote([("99.90", 100)], [("99.98", 15), ("100.00", 10), ("100.03", 100)]))
    # B2 and B3 (best bid, in arrival order) then B1; each pays the displayed price it took.
    assert filled(reports, "B2") == [(D(10), D("99.98"))]
    assert filled(reports, "B3") == [(D(5), D("99.98")), (D(5), D("100.00"))]
    assert filled(reports, "B1") == [(D(5), D("100.00"))]
    assert book.leaves(R("B1")) == D(5)
    assert fills(reports, "S1") == []  # the quote's bid does not reach the resting sell


def test_on_quote_fills_resting_sells_against_the_bid() -> None:
    book = book_with(("S1", "sell", 10, "100.00"))
    reports = book.on_quote(quote([("100.02", 4), ("100.01", 4), ("99.00", 100)], [("100.05", 10)]))
    assert filled(reports, "S1") == [(D(4), D("100.02")), (D(4), D("100.01"))]
    assert book.leaves(R("S1")) == D(2)


# --- time in force -----------------------------------------------------------------------------


def test_ioc_buy_partially_fills_then_cancels_remainder() -> None:
    book = OrderBook(STOCK)
    book.on_quote(quote([("99.99", 100)], [("100.00", 30), ("100.05", 100)]))
    reports = book.submit(route("B1", "buy", 50, "100.00", tif=TimeInForce.IOC))
    assert reports == [
        Ack(R("B1")),
        Fill(R("B1"), D(30), D("100.00"), Liquidity.REMOVED, None, D(20)),
        Canceled(R("B1"), "ioc remainder"),
    ]
    assert not book.is_live(R("B1"))


def test_ioc_with_nothing_to_match_is_canceled_without_fills() -> None:
    book = OrderBook(STOCK)
    book.on_quote(quote([("99.99", 100)], [("100.01", 100)]))
    reports = book.submit(route("B1", "buy", 50, "100.00", tif=TimeInForce.IOC))
    assert reports == [Ack(R("B1")), Canceled(R("B1"), "ioc remainder")]


def test_fok_fills_completely_across_internal_and_external_liquidity() -> None:
    book = OrderBook(STOCK)
    book.on_quote(quote([("99.99", 100)], [("100.00", 30), ("100.01", 30)]))
    book.submit(route("S1", "sell", 20, "100.01"))
    reports = book.submit(route("B1", "buy", 80, "100.01", tif=TimeInForce.FOK))
    assert sum(q for q, _ in filled(reports, "B1")) == D(80)
    assert not any(isinstance(r, Canceled) for r in reports)


def test_fok_is_canceled_without_any_fill_when_liquidity_is_short() -> None:
    book = OrderBook(STOCK)
    book.on_quote(quote([("99.99", 100)], [("100.00", 30), ("100.01", 30), ("100.02", 1000)]))
    reports = book.submit(route("B1", "buy", 61, "100.01", tif=TimeInForce.FOK))
    assert reports == [Ack(R("B1")), Canceled(R("B1"), "fok not filled")]
    # Nothing was consumed: the whole displayed size is still there for the next order.
    assert filled(book.submit(route("B2", "buy", 60, "100.01")), "B2") == [(D(30), D("100.00")), (D(30), D("100.01"))]


# --- market orders -----------------------------------------------------------------------------


def test_market_buy_sweeps_the_depth_at_any_price() -> None:
    book = OrderBook(STOCK)
    book.on_quote(quote([("99.99", 100)], [("100.00", 10), ("105.00", 10)]))
    reports = book.submit(route("B1", "buy", 20))
    assert filled(reports, "B1") == [(D(10), D("100.00")), (D(10), D("105.00"))]


def test_market_order_with_nothing_to_match_is_canceled_no_liquidity() -> None:
    book = OrderBook(STOCK)
    book.on_quote(quote([("99.99", 100)], []))
    assert book.submit(route("B1", "buy", 10)) == [Ack(R("B1")), Canceled(R("B1"), "no liquidity")]


def test_market_order_remainder_beyond_the_depth_is_canceled() -> None:
    book = OrderBook(STOCK)
    book.on_quote(quote([("99.99", 5)], [("100.01", 100)]))
    reports = book.submit(route("S1", "sell", 8))
    assert filled(reports, "S1") == [(D(5), D("99.99"))]
    assert reports[-1] == Canceled(R("S1"), "no liquidity")


def test_market_order_without_market_data_is_rejected() -> None:
    book = book_with(("S1", "sell", 10, "100.00"))
    [report] = book.submit(route("B1", "buy", 10))
    assert isinstance(report, Rejected)
    assert (report.reason.code, report.reason.message) == (RejectCode.VENUE_REJECT, "no market data")
    assert book.leaves(R("S1")) == D(10)


# --- stops ---------------------------------------------------------------------------------------


def test_buy_stop_waits_then_triggers_when_last_reaches_the_stop_and_fills_as_market() -> None:
    book = OrderBook(STOCK)
    book.on_quote(quote([("99.99", 100)], [("100.01", 100)], last="100.00"))
    assert book.submit(route("B1", "buy", 10, ord_type=OrdType.STOP, stop="100.50")) == [Ack(R("B1"))]
    assert fills(book.on_quote(quote([("100.40", 100)], [("100.45", 100)], last="100.49"))) == []
    reports = book.on_quote(quote([("100.50", 100)], [("100.55", 100)], last="100.50"))
    assert filled(reports, "B1") == [(D(10), D("100.55"))]


def test_sell_stop_limit_triggers_and_rests_as_a_limit_when_it_cannot_fill() -> None:
    book = OrderBook(STOCK)
    book.on_quote(quote([("99.99", 100)], [("100.01", 100)], last="100.00"))
    book.submit(route("S1", "sell", 10, "99.50", ord_type=OrdType.STOP_LIMIT, stop="99.60"))
    reports = book.on_quote(quote([("99.40", 100)], [("99.45", 100)], last="99.45"))
    assert fills(reports) == []
    assert book.depth() == ([], [(D("99.50"), D(10))])  # triggered: now a resting limit
    assert filled(book.on_quote(quote([("99.55", 4)], [("99.60", 100)], last="99.55")), "S1") == [(D(4), D("99.55"))]


def test_stops_fired_by_the_same_quote_execute_in_arrival_order() -> None:
    book = OrderBook(STOCK)
    book.on_quote(quote([("99.99", 100)], [("100.01", 100)], last="100.00"))
    book.submit(route("B1", "buy", 10, ord_type=OrdType.STOP, stop="100.10"))
    book.submit(route("S1", "sell", 10, ord_type=OrdType.STOP, stop="99.00"))  # not fired
    book.submit(route("B2", "buy", 10, ord_type=OrdType.STOP, stop="100.05"))
    reports = book.on_quote(quote([("100.15", 100)], [("100.20", 10)], last="100.20"))
    assert filled(reports, "B1") == [(D(10), D("100.20"))]
    assert reports[-1] == Canceled(R("B2"), "no liquidity")
    assert book.is_live(R("S1"))


def test_stop_already_through_the_market_triggers_on_arrival() -> None:
    book = OrderBook(STOCK)
    book.on_quote(quote([("99.99", 100)], [("100.01", 100)], last="100.00"))
    reports = book.submit(route("S1", "sell", 10, ord_type=OrdType.STOP, stop="100.20"))
    assert filled(reports, "S1") == [(D(10), D("99.99"))]


def test_untriggered_stop_is_not_on_the_book_and_can_be_canceled() -> None:
    book = OrderBook(STOCK)
    book.on_quote(quote([("99.99", 100)], [("100.01", 100)], last="100.00"))
    book.submit(route("B1", "buy", 10, ord_type=OrdType.STOP, stop="101.00"))
    assert book.depth() == ([], [])
    assert book.cancel(R("B1")) == [Canceled(R("B1"), "requested")]
    assert fills(book.on_quote(quote([("101.00", 100)], [("101.01", 100)], last="101.00"))) == []


# --- replace ---------------------------------------------------------------------------------------


def test_replace_quantity_down_keeps_time_priority() -> None:
    book = book_with(("B1", "buy", 10, "100.00"), ("B2", "buy", 10, "100.00"))
    assert book.replace(R("B1"), D(5), None, None) == [Replaced(R("B1"), D(5), D("100.00"), None, D(5))]
    assert book.queue(True, D("100.00")) == ["B1", "B2"]
    reports = book.submit(route("S1", "sell", 7, "100.00"))
    assert [(f.counter_route_id, f.qty) for f in fills(reports, "S1")] == [("B1", D(5)), ("B2", D(2))]


def test_replace_quantity_up_loses_time_priority() -> None:
    book = book_with(("B1", "buy", 10, "100.00"), ("B2", "buy", 10, "100.00"))
    book.replace(R("B1"), D(20), D("100.00"), None)
    assert book.queue(True, D("100.00")) == ["B2", "B1"]


def test_replace_price_loses_priority_and_a_replaced_limit_that_now_crosses_fills() -> None:
    book = OrderBook(STOCK)
    book.on_quote(quote([("99.99", 100)], [("100.01", 8)]))
    book.submit(route("B1", "buy", 10, "99.99"))
    reports = book.replace(R("B1"), D(10), D("100.01"), None)
    assert reports[0] == Replaced(R("B1"), D(10), D("100.01"), None, D(10))
    assert filled(reports, "B1") == [(D(8), D("100.01"))]
    assert book.depth() == ([(D("100.01"), D(2))], [])


def test_replace_quantity_at_or_below_filled_finishes_the_order() -> None:
    book = book_with(("S1", "sell", 4, "100.00"))
    book.submit(route("B1", "buy", 10, "100.00"))  # 4 filled, 6 resting
    assert book.replace(R("B1"), D(4), None, None) == [Replaced(R("B1"), D(4), D("100.00"), None, D(0))]
    assert not book.is_live(R("B1"))
    assert book.depth() == ([], [])
    [reject] = book.replace(R("B1"), D(10), None, None)
    assert isinstance(reject, ReplaceReject) and reject.reason.code is RejectCode.TOO_LATE


def test_replace_below_filled_also_finishes_the_order() -> None:
    book = book_with(("S1", "sell", 4, "100.00"))
    book.submit(route("B1", "buy", 10, "100.00"))
    [report] = book.replace(R("B1"), D(2), None, None)
    assert isinstance(report, Replaced) and report.leaves == 0
    assert not book.is_live(R("B1"))


def test_replace_of_a_stop_price_can_trigger_it() -> None:
    book = OrderBook(STOCK)
    book.on_quote(quote([("99.99", 100)], [("100.01", 100)], last="100.00"))
    book.submit(route("B1", "buy", 10, ord_type=OrdType.STOP, stop="101.00"))
    reports = book.replace(R("B1"), D(10), None, D("100.00"))
    assert reports[0] == Replaced(R("B1"), D(10), None, D("100.00"), D(10))
    assert filled(reports, "B1") == [(D(10), D("100.01"))]


def test_replace_of_unknown_route_is_rejected_unknown_order() -> None:
    [reject] = OrderBook(STOCK).replace(R("NOPE"), D(10), D("1.00"), None)
    assert isinstance(reject, ReplaceReject) and reject.reason.code is RejectCode.UNKNOWN_ORDER


def test_replace_with_an_off_tick_price_is_rejected_and_the_order_unchanged() -> None:
    book = book_with(("B1", "buy", 10, "100.00"))
    [reject] = book.replace(R("B1"), D(10), D("100.001"), None)
    assert isinstance(reject, ReplaceReject) and reject.reason.code is RejectCode.TICK_SIZE_VIOLATION
    assert book.depth() == ([(D("100.00"), D(10))], [])


# --- cancel and expire -------------------------------------------------------------------------------


def test_cancel_removes_a_resting_order() -> None:
    book = book_with(("B1", "buy", 10, "100.00"), ("B2", "buy", 10, "100.00"))
    assert book.cancel(R("B1")) == [Canceled(R("B1"), "requested")]
    assert book.queue(True, D("100.00")) == ["B2"]
    assert book.depth() == ([(D("100.00"), D(10))], [])


def test_cancel_of_a_never_seen_route_is_rejected_unknown_order() -> None:
    [reject] = OrderBook(STOCK).cancel(R("NOPE"))
    assert isinstance(reject, CancelReject) and reject.reason.code is RejectCode.UNKNOWN_ORDER


def test_cancel_of_a_finished_route_is_rejected_too_late() -> None:
    book = book_with(("S1", "sell", 10, "100.00"))
    book.submit(route("B1", "buy", 10, "100.00"))
    for route_id in ("B1", "S1"):
        [reject] = book.cancel(R(route_id))
        assert isinstance(reject, CancelReject) and reject.reason.code is RejectCode.TOO_LATE


def test_finished_route_memory_is_bounded() -> None:
    book = OrderBook(STOCK, remember_finished=2)
    for route_id in ("A", "B", "C"):
        book.submit(route(route_id, "buy", 1, "1.00"))
        book.cancel(R(route_id))
    assert [r.reason.code for r in book.cancel(R("A")) if isinstance(r, CancelReject)] == [RejectCode.UNKNOWN_ORDER]
    assert [r.reason.code for r in book.cancel(R("C")) if isinstance(r, CancelReject)] == [RejectCode.TOO_LATE]


def test_expire_removes_the_order_without_a_report() -> None:
    book = book_with(("B1", "buy", 10, "100.00"))
    assert book.expire(R("B1")) == []
    assert book.depth() == ([], [])
    assert book.expire(R("B1")) == []  # twice is harmless


# --- lot size, validation, no overfill ---------------------------------------------------------------


def test_fills_against_the_quote_are_whole_lots_only() -> None:
    book = OrderBook(ROUND_LOT)
    book.on_quote(quote([("9.99", 1000)], [("10.00", 250), ("10.01", 99), ("10.02", 1000)], symbol="RLOT"))
    reports = book.submit(route("B1", "buy", 500, "10.02", symbol="RLOT"))
    # 250 displayed -> 200 usable; 99 -> nothing; the rest from 10.02.
    assert filled(reports, "B1") == [(D(200), D("10.00")), (D(300), D("10.02"))]
    assert all(f.qty % 100 == 0 for f in fills(reports))


def test_order_quantity_that_is_not_whole_lots_is_rejected() -> None:
    [reject] = OrderBook(ROUND_LOT).submit(route("B1", "buy", 150, "10.00", symbol="RLOT"))
    assert isinstance(reject, Rejected) and reject.reason.code is RejectCode.LOT_SIZE_VIOLATION


def test_limit_order_without_a_price_is_rejected() -> None:
    [reject] = OrderBook(STOCK).submit(route("B1", "buy", 10, ord_type=OrdType.LIMIT))
    assert isinstance(reject, Rejected) and reject.reason.code is RejectCode.INVALID_PRICE


def test_duplicate_route_id_is_rejected_and_the_live_order_untouched() -> None:
    book = book_with(("B1", "buy", 10, "100.00"))
    [reject] = book.submit(route("B1", "buy", 10, "100.00"))
    assert isinstance(reject, Rejected)
    assert book.leaves(R("B1")) == D(10)


def test_a_large_order_never_fills_more_than_its_quantity() -> None:
    book = book_with(("S1", "sell", 30, "100.00"), ("S2", "sell", 30, "100.00"))
    book.on_quote(quote([("99.00", 100)], [("100.00", 1000)]))
    reports = book.submit(route("B1", "buy", 45, "100.00"))
    assert sum(q for q, _ in filled(reports, "B1")) == D(45)
    assert fills(reports, "B1")[-1].leaves == 0


# --- halts and sessions ------------------------------------------------------------------------------


def test_halted_quote_stops_matching_rejects_market_and_cancels_ioc() -> None:
    book = OrderBook(STOCK)
    book.on_quote(quote([("99.99", 100)], [("100.00", 100)], halted=True))
    assert book.submit(route("B1", "buy", 10, "100.00")) == [Ack(R("B1"))]  # rests, no fill
    [reject] = book.submit(route("B2", "buy", 10))
    assert isinstance(reject, Rejected) and reject.reason.message == "halted"
    assert book.submit(route("B3", "buy", 10, "100.00", tif=TimeInForce.IOC))[-1] == Canceled(R("B3"), "ioc remainder")
    assert fills(book.submit(route("S1", "sell", 10, "100.00"))) == []  # not even internally


def test_orders_left_crossed_by_a_halt_match_on_the_next_live_quote() -> None:
    book = OrderBook(STOCK)
    book.on_quote(quote([("99.99", 100)], [("100.01", 100)], halted=True))
    book.submit(route("S1", "sell", 10, "99.98"))
    book.submit(route("B1", "buy", 10, "100.00"))
    reports = book.on_quote(quote([("99.90", 100)], [("100.10", 100)]))
    # The older order (S1) is the maker and sets the price.
    assert filled(reports, "B1") == [(D(10), D("99.98"))]
    assert fills(reports, "S1")[0].liquidity is Liquidity.ADDED


def test_closed_session_matches_nothing_until_reopened_and_quoted() -> None:
    book = OrderBook(STOCK)
    book.on_quote(quote([("99.99", 100)], [("100.00", 100)]))
    book.set_open(False)
    assert book.submit(route("B1", "buy", 10, "100.00")) == [Ack(R("B1"))]
    [reject] = book.submit(route("B2", "buy", 10))
    assert isinstance(reject, Rejected) and reject.reason.message == "session closed"
    assert fills(book.on_quote(quote([("99.99", 100)], [("100.00", 100)]))) == []
    book.set_open(True)
    assert filled(book.on_quote(quote([("99.99", 100)], [("100.00", 100)])), "B1") == [(D(10), D("100.00"))]


# --- quotes passed to submit, restore ------------------------------------------------------------------


def test_submit_with_a_new_quote_applies_it_first() -> None:
    book = book_with(("B1", "buy", 10, "100.00"))
    q = quote([("99.99", 100)], [("100.00", 15)])
    reports = book.submit(route("B2", "buy", 10, "100.00"), q)
    assert filled(reports, "B1") == [(D(10), D("100.00"))]  # resting first: it was there first
    assert filled(reports, "B2") == [(D(5), D("100.00"))]
    # Passing the same quote again must not refresh the consumed liquidity.
    assert filled(book.submit(route("B3", "buy", 10, "100.00"), q), "B3") == []


def test_restore_reinserts_with_cum_qty_and_without_an_ack() -> None:
    book = OrderBook(STOCK)
    assert book.restore(route("B1", "buy", 10, "100.00", cum=6)) == []
    assert book.leaves(R("B1")) == D(4)
    reports = book.on_quote(quote([("99.99", 100)], [("100.00", 100)]))
    assert filled(reports, "B1") == [(D(4), D("100.00"))]


def test_restore_cancels_orders_that_could_not_have_been_resting() -> None:
    book = OrderBook(STOCK)
    assert book.restore(route("M1", "buy", 10)) == [Canceled(R("M1"), "not restorable after restart")]
    ioc = route("I1", "buy", 10, "1.00", tif=TimeInForce.IOC)
    assert book.restore(ioc) == [Canceled(R("I1"), "not restorable after restart")]
    assert book.restore(route("F1", "buy", 10, "1.00", cum=10)) == []  # already done: nothing to do
    assert len(book) == 0


def test_restored_stop_is_untriggered_until_the_next_quote() -> None:
    book = OrderBook(STOCK)
    book.restore(route("S1", "sell", 10, ord_type=OrdType.STOP, stop="100.00", cum=2))
    reports = book.on_quote(quote([("99.90", 100)], [("99.95", 100)], last="99.95"))
    assert filled(reports, "S1") == [(D(8), D("99.90"))]


def test_prices_are_compared_by_value_not_by_representation() -> None:
    book = book_with(("S1", "sell", 10, "100.0"))
    reports = book.submit(route("B1", "buy", 10, "100.00"))
    assert [q for q, _ in filled(reports, "B1")] == [Decimal(10)]


def test_a_quote_for_another_instrument_is_refused() -> None:
    with pytest.raises(ValueError, match="MSFT"):
        OrderBook(STOCK).on_quote(quote([("1.00", 1)], [("1.01", 1)], symbol="MSFT"))
