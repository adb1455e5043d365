"""Account-wide limits: credit (buying power), gross/net exposure, daily loss, per-underlying
positions. For each: a pass, a refusal naming rule, scope, limit and value, and the boundary."""

from __future__ import annotations

from decimal import Decimal

import pytest

from builders import ACTOR, of_type, only_rejection, replay
from openoms.domain import commands as cmd
from openoms.domain import events as ev
from openoms.domain.rejects import RejectCode
from openoms.domain.values import OrdType, Side
from risk_desk import filled, risk_desk

D = Decimal
FIRM = "firm:DEMO"
ACCOUNT = "account:ACC-EQ-1"


@pytest.mark.parametrize(("qty", "passes"), [("100", True), ("101", False)])
def test_credit_limit_boundary_counts_working_buys_at_once(qty: str, passes: bool) -> None:
    desk, _ = risk_desk({FIRM: {"credit_limit": "46000"}})
    desk.submit_ok("100", "230.00")  # 23,000 working: counted before any fill
    events = desk.submit(qty, "230.00")
    if passes:
        assert of_type(events, ev.OrderAccepted)
        return
    reason = only_rejection(events).reason
    assert reason.code is RejectCode.RISK_CREDIT_LIMIT
    assert reason.detail == {"rule": "credit_limit", "scope": FIRM, "limit": "46000", "value": "46230.00"}
    assert "buying power used 23000.00 + this order 23230.00 = 46230.00 USD would exceed the firm:DEMO credit limit of 46000" \
        in reason.message


def test_credit_counts_long_positions_at_cost_and_sales_use_none() -> None:
    desk, _ = risk_desk({ACCOUNT: {"credit_limit": "30000"}})
    filled(desk, "100", "229.00")  # 22,900 paid
    assert only_rejection(desk.submit("35", "230.00")).reason.code is RejectCode.RISK_CREDIT_LIMIT  # 22,900 + 8,050
    assert of_type(desk.submit("30", "230.00"), ev.OrderAccepted)  # 22,900 + 6,900 = 29,800
    assert of_type(desk.submit("500", "230.00", side=Side.SELL_SHORT), ev.OrderAccepted)  # sales use no buying power
    filled(desk, "100", "231.00", side=Side.SELL)  # selling the long frees its cost
    assert of_type(desk.submit("100", "230.00"), ev.OrderAccepted)


def test_credit_in_the_account_currency_needs_an_fx_rate_and_uses_it() -> None:
    desk, _ = risk_desk({ACCOUNT: {"credit_limit": "23100"}})
    reason = only_rejection(desk.submit("100", "210.00", symbol="SAP")).reason
    assert reason.code is RejectCode.RISK_NO_FX_RATE and reason.detail["value"] == "EURUSD"
    desk, _ = risk_desk({ACCOUNT: {"credit_limit": "23100"}}, fx={"EURUSD": "1.10"})
    assert of_type(desk.submit("100", "210.00", symbol="SAP"), ev.OrderAccepted)  # 21,000 EUR = 23,100 USD
    assert only_rejection(desk.submit("1", "210.00", symbol="SAP")).reason.detail["value"] == "23331.0000"


def test_a_replace_is_judged_without_the_order_it_replaces() -> None:
    desk, _ = risk_desk({ACCOUNT: {"credit_limit": "23000"}})
    order_id = desk.submit_ok("100", "230.00")
    desk.ack(order_id)
    assert of_type(desk.replace(order_id, "R1", qty="100", price="229.00"), ev.ReplaceRequested)
    desk.venue_replaced(order_id, "100", "229.00")
    assert desk.engine.books["ACC-EQ-1"].working_notional["USD"][0] == D("22900.00")  # type: ignore[index]
    assert only_rejection(desk.replace(order_id, "R2", qty="101", price="229.00")).reason.code is RejectCode.RISK_CREDIT_LIMIT


@pytest.mark.parametrize(("qty", "passes"), [("30", True), ("31", False)])
def test_gross_exposure_marks_positions_and_adds_working_orders(qty: str, passes: bool) -> None:
    desk, market = risk_desk({ACCOUNT: {"max_gross_exposure": "30000"}})
    filled(desk, "100", "200.00")
    market.quote("AAPL", "230.00")  # marked at 23,000, not at the 20,000 paid
    events = desk.submit(qty, "230.00")
    assert bool(of_type(events, ev.OrderAccepted)) is passes
    if not passes:
        reason = only_rejection(events).reason
        assert reason.code is RejectCode.RISK_EXPOSURE_LIMIT and reason.detail["value"] == "30130.00"


def test_net_exposure_nets_longs_against_shorts_and_reducing_orders_always_pass() -> None:
    desk, _ = risk_desk({ACCOUNT: {"max_net_exposure": "25000"}})
    filled(desk, "100", "230.00")  # net +23,000
    reason = only_rejection(desk.submit("10", "230.00")).reason
    assert reason.code is RejectCode.RISK_EXPOSURE_LIMIT and reason.detail["rule"] == "max_net_exposure"
    assert of_type(desk.submit("40", "420.00", symbol="MSFT", side=Side.SELL_SHORT), ev.OrderAccepted)  # nets down
    desk.send(cmd.SetLimits(actor=ACTOR, scope=ACCOUNT, limits={"max_net_exposure": "1000"}, reason="cut"))
    assert only_rejection(desk.submit("1", "230.00")).reason.code is RejectCode.RISK_EXPOSURE_LIMIT
    assert of_type(desk.submit("100", "230.00", side=Side.SELL), ev.OrderAccepted)  # reduces the long: admitted


def test_exposure_needs_a_mark_for_every_position() -> None:
    desk, market = risk_desk({ACCOUNT: {"max_gross_exposure": "1000000"}})
    filled(desk, "10", "420.00", symbol="MSFT")
    del market["MSFT"]  # type: ignore[arg-type]
    reason = only_rejection(desk.submit("1", "230.00")).reason
    assert reason.code is RejectCode.RISK_NO_REFERENCE_PRICE and "MSFT" in reason.message


def test_daily_loss_limit_counts_realized_and_unrealized_then_admits_only_reducing_orders() -> None:
    desk, market = risk_desk({ACCOUNT: {"max_daily_loss": "1000"}})
    filled(desk, "100", "230.00")
    filled(desk, "100", "225.00", side=Side.SELL)  # realized -500
    filled(desk, "100", "230.00")
    market.quote("AAPL", "225.01")  # unrealized -499
    assert of_type(desk.submit("1", "225.00"), ev.OrderAccepted)  # loss 999: under the limit
    market.quote("AAPL", "225.00")  # loss 1,000: at the limit
    reason = only_rejection(desk.submit("1", "225.00")).reason
    assert reason.code is RejectCode.RISK_LOSS_LIMIT and reason.detail["value"] == "1000.00"
    assert "realized -500.00" in reason.message
    assert of_type(desk.submit("50", "225.00", side=Side.SELL), ev.OrderAccepted)  # reduces the long
    desk.next_day()
    market.quote("AAPL", "230.00", ts=desk.now)
    assert of_type(desk.submit("1", "230.00"), ev.OrderAccepted)  # a new day: realized P&L starts again


def test_underlying_limit_adds_the_stock_and_its_options_in_underlying_units() -> None:
    desk, _ = risk_desk({ACCOUNT: {"max_long_underlying": "1000"}})
    filled(desk, "500", "230.00")
    desk.submit_ok("4", "12.50", symbol="AAPL261218C00230000")  # 4 calls x 100 = 400 more
    assert of_type(desk.submit("100", "230.00"), ev.OrderAccepted)  # 1,000 exactly
    reason = only_rejection(desk.submit("1", "12.50", symbol="AAPL261218C00230000")).reason
    assert reason.code is RejectCode.RISK_POSITION_LIMIT
    assert reason.detail == {"rule": "max_long_underlying", "scope": ACCOUNT, "limit": "1000", "value": "1100"}
    assert of_type(desk.submit("100", "420.00", symbol="MSFT"), ev.OrderAccepted)  # another underlying


def test_market_orders_count_at_the_far_touch_recorded_on_the_order() -> None:
    desk, _ = risk_desk({ACCOUNT: {"credit_limit": "23001"}})
    accepted = of_type(desk.submit("100", None, ord_type=OrdType.MARKET), ev.OrderAccepted)[0]
    assert accepted.reference_price == D("230.01")
    assert desk.engine.books["ACC-EQ-1"].working_notional["USD"][0] == D("23001.00")  # type: ignore[index]


def test_account_books_are_rebuilt_exactly_by_replay() -> None:
    desk, _ = risk_desk({ACCOUNT: {"credit_limit": "1000000", "max_daily_loss": "100000"}})
    filled(desk, "100", "230.00")
    order_id = desk.submit_ok("50", "229.00")
    desk.ack(order_id)
    desk.replace(order_id, "R1", qty="60", price="228.00")
    desk.fill(order_id, "10", "228.00")
    filled(desk, "30", "231.00", side=Side.SELL)
    assert replay(desk.events).books == desk.engine.books
