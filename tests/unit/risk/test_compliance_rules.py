"""Compliance and message controls: Reg SHO marking and locates, self-trade prevention,
permissions, trading hours and halts, price bounds, tick collars, % of ADV, replace/cancel
throttles, order-to-trade ratio, overrides with expiry, watch lists and who may change limits."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from builders import ACTOR, T0, of_type, only_rejection, replay
from openoms.demo import demo_reference
from openoms.domain import commands as cmd
from openoms.domain import events as ev
from openoms.domain.ids import AccountId, Symbol
from openoms.domain.rejects import RejectCode
from openoms.domain.values import OrdType, Side
from risk_desk import HOUR, filled, risk_desk

D = Decimal
FIRM = "firm:DEMO"
ACCOUNT = "account:ACC-EQ-1"
SHO = {FIRM: {"short_sale_rules": "true"}}


def locate(desk, qty: str, expires_at: int | None = None, locate_id: str = "L1", user: str = "demo"):  # type: ignore[no-untyped-def]
    return desk.send(cmd.GrantLocate(actor=cmd.Actor(user, "test"), account=AccountId("ACC-EQ-1"), symbol=Symbol("AAPL"),
                                     locate_id=locate_id, quantity=D(qty), expires_at=expires_at or desk.now + HOUR,
                                     source="stock loan"))


# --- Reg SHO ------------------------------------------------------------------------------


def test_a_sale_marked_long_must_be_covered_by_the_position() -> None:
    desk, _ = risk_desk(SHO)
    reason = only_rejection(desk.submit("10", "230.00", side=Side.SELL)).reason
    assert reason.code is RejectCode.RISK_SHORT_SALE and "mark it sell_short" in reason.message
    filled(desk, "100", "230.00")
    desk.submit_ok("60", "230.00", side=Side.SELL)
    assert of_type(desk.submit("40", "230.00", side=Side.SELL), ev.OrderAccepted)  # 100 held, 60 + 40 selling
    reason = only_rejection(desk.submit("1", "230.00", side=Side.SELL)).reason
    assert reason.detail == {"rule": "short_sale_rules", "scope": FIRM, "limit": "0", "value": "1"}


def test_a_short_sale_needs_a_locate_and_consumes_it_and_a_cancel_gives_it_back() -> None:
    desk, _ = risk_desk(SHO)
    reason = only_rejection(desk.submit("100", "230.00", side=Side.SELL_SHORT)).reason
    assert reason.code is RejectCode.RISK_NO_LOCATE and "0 is located" in reason.message
    assert of_type(locate(desk, "100"), ev.LocateGranted)
    first = desk.submit_ok("60", "230.00", side=Side.SELL_SHORT)
    reason = only_rejection(desk.submit("41", "230.00", side=Side.SELL_SHORT)).reason
    assert reason.detail == {"rule": "short_sale_rules", "scope": FIRM, "limit": "40", "value": "41"}
    desk.ack(first)
    desk.fill(first, "20", "230.00")  # a fill consumes the borrow for good
    desk.cancel(first, "C1")
    desk.venue_canceled(first)  # the unfilled 40 come back
    assert desk.engine.books[AccountId("ACC-EQ-1")].locate_available(Symbol("AAPL"), desk.now) == D(80)
    assert of_type(desk.submit("80", "230.00", side=Side.SELL_SHORT), ev.OrderAccepted)
    assert replay(desk.events).books == desk.engine.books


def test_locates_expire_and_exempt_sales_and_futures_need_none() -> None:
    desk, _ = risk_desk(SHO)
    locate(desk, "100", expires_at=desk.now + 10_000_000)
    desk.now += 20_000_000
    assert only_rejection(desk.submit("1", "230.00", side=Side.SELL_SHORT)).reason.code is RejectCode.RISK_NO_LOCATE
    assert of_type(desk.submit("10", "230.00", side=Side.SELL_SHORT_EXEMPT), ev.OrderAccepted)
    assert of_type(desk.submit("1", "6000.00", symbol="ESZ6", side=Side.SELL), ev.OrderAccepted)


@pytest.mark.parametrize(("user", "qty", "code"), [("alice", "100", RejectCode.NOT_PERMITTED),
                                                    ("ops", "0", RejectCode.INVALID_QUANTITY)])
def test_bad_or_unauthorized_locates_are_refused(user: str, qty: str, code: RejectCode) -> None:
    desk, _ = risk_desk(SHO)
    assert only_rejection(locate(desk, qty, user=user)).reason.code is code


# --- self-trade prevention ------------------------------------------------------------------


def shared_owner():  # type: ignore[no-untyped-def]
    reference = demo_reference()
    for account_id in ("ACC-EQ-1", "ACC-EQ-2"):
        reference.accounts[AccountId(account_id)] = dataclasses.replace(reference.accounts[AccountId(account_id)],
                                                                        beneficial_owner="FUND-A")
    return reference


def test_stp_reject_incoming_names_the_resting_order_of_the_same_owner() -> None:
    desk, _ = risk_desk({FIRM: {"self_trade_prevention": "reject_incoming"}}, reference=shared_owner())
    resting = desk.submit_ok("100", "230.00", side=Side.SELL_SHORT, account="ACC-EQ-2")
    assert of_type(desk.submit("100", "229.99"), ev.OrderAccepted)  # below the offer: no trade
    reason = only_rejection(desk.submit("100", "230.00")).reason
    assert reason.code is RejectCode.RISK_SELF_TRADE and reason.detail["value"] == resting
    assert of_type(desk.submit("1000", "98.5", account="ACC-FI-1", symbol="UST-10Y"), ev.OrderAccepted)


def test_stp_cancel_resting_cancels_the_resting_order_before_the_new_one_goes_out() -> None:
    desk, _ = risk_desk({FIRM: {"self_trade_prevention": "cancel_resting"}}, reference=shared_owner())
    resting = desk.submit_ok("100", "230.00", side=Side.SELL_SHORT, account="ACC-EQ-2")
    desk.ack(resting)
    events = desk.submit("100", None, ord_type=OrdType.MARKET)
    assert [type(e) for e in events] == [ev.CancelRequested, ev.OrderAccepted, ev.OrderRouted]
    assert events[0].order_id == resting  # type: ignore[attr-defined]


def test_accounts_of_different_owners_may_trade_with_each_other() -> None:
    desk, _ = risk_desk({FIRM: {"self_trade_prevention": "reject_incoming"}})
    desk.submit_ok("100", "230.00", side=Side.SELL_SHORT, account="ACC-EQ-2")
    assert of_type(desk.submit("100", "230.00"), ev.OrderAccepted)


# --- permissions, hours, halts, prices ------------------------------------------------------


def test_asset_class_and_venue_permissions() -> None:
    desk, _ = risk_desk({ACCOUNT: {"allowed_asset_classes": "equity,option"}, FIRM: {"allowed_venues": "SIM"}})
    assert of_type(desk.submit("1", "12.50", symbol="AAPL261218C00230000"), ev.OrderAccepted)
    reason = only_rejection(desk.submit("1", "6000.00", symbol="ESZ6")).reason
    assert reason.code is RejectCode.RISK_NOT_PERMITTED and reason.detail["value"] == "future"
    desk, _ = risk_desk({FIRM: {"allowed_venues": "XNYS"}})
    reason = only_rejection(desk.submit("1", "230.00")).reason
    assert reason.detail == {"rule": "allowed_venues", "scope": FIRM, "limit": "XNYS", "value": "SIM"}


@pytest.mark.parametrize(("window", "passes"), [("13:30-20:00", True), ("14:30-20:00", True), ("14:31-20:00", False),
                                                ("09:00-14:30", False), ("22:00-15:00", True), ("20:00-14:00", False)])
def test_trading_hours_window_in_utc(window: str, passes: bool) -> None:
    desk, _ = risk_desk({ACCOUNT: {"trading_hours_utc": window}})  # T0 is 14:30 UTC
    desk.now = T0
    events = desk.submit("1", "230.00")
    assert bool(of_type(events, ev.OrderAccepted)) is passes
    if not passes:
        assert only_rejection(events).reason.message.endswith("it is 14:30 UTC")


def test_a_halted_instrument_refuses_orders() -> None:
    desk, market = risk_desk({FIRM: {"max_order_quantity": "1000"}})
    market.quote("AAPL", "230.00", halted=True)
    assert only_rejection(desk.submit("1", "230.00")).reason.code is RejectCode.RISK_HALTED


@pytest.mark.parametrize(("price", "rule"), [("4.99", "min_price"), ("5.00", None), ("500.00", None), ("500.01", "max_price")])
def test_min_and_max_price(price: str, rule: str | None) -> None:
    desk, _ = risk_desk({FIRM: {"min_price": "5", "max_price": "500"}})
    events = desk.submit("1", price, side=Side.SELL_SHORT)
    if rule is None:
        assert of_type(events, ev.OrderAccepted)
    else:
        assert only_rejection(events).reason.detail["rule"] == rule


@pytest.mark.parametrize(("price", "passes"), [("230.05", True), ("230.06", False)])
def test_collar_in_ticks(price: str, passes: bool) -> None:
    desk, _ = risk_desk({FIRM: {"price_collar_ticks": "5"}})
    events = desk.submit("1", price)
    assert bool(of_type(events, ev.OrderAccepted)) is passes
    if not passes:
        reason = only_rejection(events).reason
        assert reason.code is RejectCode.RISK_PRICE_COLLAR and "more than 5 ticks through the reference 230.00" in reason.message


@pytest.mark.parametrize(("qty", "passes"), [("500000", True), ("500001", False)])
def test_percent_of_average_daily_volume(qty: str, passes: bool) -> None:
    desk, _ = risk_desk({FIRM: {"max_pct_adv": "1"}})  # AAPL ADV 50,000,000
    events = desk.submit(qty, "230.00")
    assert bool(of_type(events, ev.OrderAccepted)) is passes
    if not passes:
        assert only_rejection(events).reason.detail == {"rule": "max_pct_adv", "scope": FIRM, "limit": "1", "value": "1.00"}
    assert only_rejection(desk.submit("1", "98.5", symbol="UST-10Y", account="ACC-FI-1")).reason.code in (
        RejectCode.RISK_NO_ADV, RejectCode.LOT_SIZE_VIOLATION)
    assert only_rejection(desk.submit("1000", "98.5", symbol="UST-10Y", account="ACC-FI-1")).reason.code is RejectCode.RISK_NO_ADV


# --- message controls ---------------------------------------------------------------------


def test_replace_and_cancel_throttles_per_second() -> None:
    desk, _ = risk_desk({ACCOUNT: {"max_replaces_per_second": "2", "max_cancels_per_second": "1"}})
    orders = [desk.submit_ok("1", "230.00") for _ in range(4)]
    for order_id in orders:
        desk.ack(order_id)
    assert of_type(desk.replace(orders[0], "R1", qty="2"), ev.ReplaceRequested)
    assert of_type(desk.replace(orders[1], "R2", qty="2"), ev.ReplaceRequested)
    reason = only_rejection(desk.replace(orders[2], "R3", qty="2")).reason
    assert reason.code is RejectCode.RISK_THROTTLE and reason.detail["rule"] == "max_replaces_per_second"
    assert of_type(desk.cancel(orders[3], "C1"), ev.CancelRequested)
    reason = only_rejection(desk.cancel(orders[2], "C2")).reason
    assert reason.detail == {"rule": "max_cancels_per_second", "scope": ACCOUNT, "limit": "1", "value": "2"}
    desk.now += 1_000_000_000
    assert of_type(desk.cancel(orders[2], "C3"), ev.CancelRequested)


def test_kill_switch_cancels_are_never_throttled() -> None:
    desk, _ = risk_desk({ACCOUNT: {"max_cancels_per_second": "1"}})
    for _ in range(3):
        desk.submit_ok("1", "230.00")
    events = desk.send(cmd.EngageKillSwitch(actor=ACTOR, scope=ACCOUNT, reason="test"))
    assert len(of_type(events, ev.CancelRequested)) == 3


def test_order_to_trade_ratio_applies_from_the_minimum_message_count() -> None:
    desk, _ = risk_desk({ACCOUNT: {"max_order_to_trade_ratio": "3", "order_to_trade_min_messages": "5"},
                         "account:ACC-EQ-2": {"max_order_quantity": "10"}})
    for _ in range(4):
        desk.submit_ok("1", "200.00")  # 4 messages, no fills: under the minimum
    reason = only_rejection(desk.submit("1", "200.00")).reason  # the 5th: 5 per 0 fills
    assert reason.code is RejectCode.RISK_ORDER_TO_TRADE and reason.detail["value"] == "5.00"
    filled(desk, "1", "230.00", account="ACC-EQ-2")  # another account's fill changes nothing here
    order_id = next(iter(desk.engine.live))
    desk.ack(order_id)
    desk.fill(order_id, "1", "200.00")  # 4 messages, 1 fill
    assert only_rejection(desk.submit("1", "200.00")).reason.detail["value"] == "5.00"
    order_id = list(desk.engine.live)[1]
    desk.ack(order_id)
    desk.fill(order_id, "1", "200.00")  # 2 fills: 5 / 2 = 2.5
    assert of_type(desk.submit("1", "200.00"), ev.OrderAccepted)


# --- overrides, watch lists, roles -----------------------------------------------------------


def test_an_override_raises_a_limit_until_it_expires_and_its_end_is_journaled() -> None:
    desk, _ = risk_desk({ACCOUNT: {"max_order_quantity": "100"}})
    expires = desk.now + 5_000_000
    events = desk.send(cmd.OverrideLimits(actor=cmd.Actor("risk", "test"), scope=ACCOUNT, limits={"max_order_quantity": "500"},
                                          expires_at=expires, reason="index rebalance"))
    assert of_type(events, ev.LimitsOverridden)[0].expires_at == expires
    assert of_type(desk.submit("500", "230.00"), ev.OrderAccepted)
    desk.now = expires
    assert only_rejection(desk.submit("101", "230.00")).reason.detail["limit"] == "100"  # expired: before any event
    ended = of_type(desk.send(cmd.ExpireDue(actor=ACTOR)), ev.OverrideEnded)
    assert [e.scope for e in ended] == [ACCOUNT] and ended[0].reason == "override expired"
    assert desk.send(cmd.ExpireDue(actor=ACTOR)) == []
    assert replay(desk.events).kill_switches == {}


@pytest.mark.parametrize(("command", "code"), [
    (cmd.OverrideLimits(actor=cmd.Actor("alice", "t"), scope=ACCOUNT, limits={"max_order_quantity": "5"}, expires_at=T0 + HOUR,
                        reason="x"), RejectCode.NOT_PERMITTED),
    (cmd.OverrideLimits(actor=ACTOR, scope=ACCOUNT, limits={"max_order_quantity": "5"}, expires_at=T0 - 1, reason="x"),
     RejectCode.INVALID_LIMIT),
    (cmd.OverrideLimits(actor=ACTOR, scope=ACCOUNT, limits={}, expires_at=T0 + HOUR, reason="x"), RejectCode.INVALID_LIMIT),
    (cmd.EndOverride(actor=ACTOR, scope=ACCOUNT, reason="x"), RejectCode.INVALID_SCOPE),
    (cmd.ReleaseKillSwitch(actor=cmd.Actor("alice", "t"), scope=ACCOUNT, reason="x"), RejectCode.NOT_PERMITTED),
    (cmd.SetRestricted(actor=cmd.Actor("bob", "t"), scope=FIRM, symbols=["AAPL"], reason="x"), RejectCode.NOT_PERMITTED),
])
def test_bad_or_unauthorized_risk_commands_are_refused(command: cmd.Command, code: RejectCode) -> None:
    desk, _ = risk_desk({FIRM: {"max_order_quantity": "1000"}})
    assert only_rejection(desk.send(command)).reason.code is code


def test_a_watch_list_admits_the_order_with_an_alert() -> None:
    desk, _ = risk_desk({FIRM: {"max_order_quantity": "1000"}})
    desk.send(cmd.SetRestricted(actor=ACTOR, scope=FIRM, symbols=["AAPL"], reason="news pending", kind="watch"))
    accepted = of_type(desk.submit("10", "12.50", symbol="AAPL261218C00230000"), ev.OrderAccepted)[0]
    assert accepted.alerts == ("AAPL is on the watch list of firm:DEMO",)
    assert of_type(desk.submit("10", "420.00", symbol="MSFT"), ev.OrderAccepted)[0].alerts == ()


@pytest.mark.parametrize(("reference", "price", "passes"), [("last", "231.00", True), ("mid", "231.00", False),
                                                            ("mid", "230.55", True)])
def test_the_collar_measures_from_the_last_trade_or_the_mid(reference: str, price: str, passes: bool) -> None:
    desk, market = risk_desk({FIRM: {"price_collar_ticks": "50"}, ACCOUNT: {"collar_reference": reference}})
    market.quote("AAPL", "230.60")
    market["AAPL"] = dataclasses.replace(market["AAPL"], bid=D("230.00"), ask=D("230.10"))  # type: ignore[index]
    events = desk.submit("1", price)
    assert bool(of_type(events, ev.OrderAccepted)) is passes


def test_cancel_and_replace_requests_record_the_market_price_seen() -> None:
    from openoms.audit.reconstruct import order_history

    desk, market = risk_desk({FIRM: {"max_order_quantity": "1000"}})
    order_id = desk.submit_ok("10", "229.00")
    desk.ack(order_id)
    market.quote("AAPL", "229.50")
    replace = of_type(desk.replace(order_id, "R1", qty="20"), ev.ReplaceRequested)[0]
    desk.venue_replaced(order_id, "20", "229.00")
    market.quote("AAPL", "228.75")
    cancel = of_type(desk.cancel(order_id, "C1"), ev.CancelRequested)[0]
    assert (replace.market_price, cancel.market_price) == (D("229.50"), D("228.75"))
    history = order_history([e for e in desk.events if getattr(e, "order_id", None) == order_id])
    by_type = {entry["type"]: entry for entry in history["events"]}
    assert by_type["CancelRequested"]["market"]["price"] == "228.75"
    assert by_type["CancelRequested"]["market"]["source"] == "market price when the request was made"


def test_an_expired_override_no_longer_loosens_the_cancel_throttle() -> None:
    desk, _ = risk_desk({ACCOUNT: {"max_cancels_per_second": "1", "max_order_quantity": "1000"}})
    orders = [desk.submit_ok("1", "230.00") for _ in range(4)]
    for order_id in orders:
        desk.ack(order_id)
    expires = desk.now + 5_000_000
    desk.send(cmd.OverrideLimits(actor=cmd.Actor("risk", "test"), scope=ACCOUNT, limits={"max_cancels_per_second": "10"},
                                 expires_at=expires, reason="end-of-day clean-up"))
    assert of_type(desk.cancel(orders[0], "C1"), ev.CancelRequested)
    assert of_type(desk.cancel(orders[1], "C2"), ev.CancelRequested)  # 2 in a second: the override allows it
    desk.now = expires
    reason = only_rejection(desk.cancel(orders[2], "C3")).reason  # expired: back to 1 a second
    assert reason.detail["rule"] == "max_cancels_per_second" and reason.detail["limit"] == "1"
