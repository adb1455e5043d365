"""Pre-trade checks: for each rule a pass, a refusal with its reason, and the boundary."""

from __future__ import annotations

from decimal import Decimal

import pytest

from openoms.demo import demo_reference
from openoms.domain.gate import OrderFacts
from openoms.domain.ids import AccountId, Symbol, TraderId
from openoms.domain.rejects import RejectCode
from openoms.domain.values import OrdType, Side
from openoms.risk.checks import Reference, check_order
from openoms.risk.gate import RiskGate
from openoms.risk.limits import LimitError, LimitSet

REF = demo_reference()
NOW = 1_780_000_000_000_000_000
SECOND = 1_000_000_000
D = Decimal
MARKET = Reference(bid=D("229.99"), ask=D("230.01"), last=D("230.00"), ts=NOW - SECOND)


def facts(symbol: str = "AAPL", qty: str = "100", price: str | None = "230.00", side: Side = Side.BUY,
          ord_type: OrdType = OrdType.LIMIT, account: str = "ACC-EQ-1", stop: str | None = None) -> OrderFacts:
    return OrderFacts(AccountId(account), TraderId("demo"), Symbol(symbol), side, D(qty), ord_type,
                      None if price is None else D(price), None if stop is None else D(stop))


def check(order: OrderFacts, limits: dict[str, LimitSet], market: Reference | None = MARKET,
          restricted: dict[str, frozenset[Symbol]] | None = None, max_age: int = 5 * SECOND):  # type: ignore[no-untyped-def]
    return check_order(order, REF.instruments[order.symbol], REF, limits, restricted or {}, market, NOW, max_age)


FIRM = "firm:DEMO"


def test_an_order_within_every_limit_passes() -> None:
    limits = {FIRM: LimitSet(D(1000), D(1_000_000), D(10))}
    assert check(facts(), limits) is None


def test_no_limits_anywhere_above_the_account_is_refused() -> None:
    reject = check(facts(), {"account:ACC-EQ-2": LimitSet(D(1))})
    assert reject is not None and reject.code is RejectCode.RISK_NO_LIMITS
    assert "ACC-EQ-1" in reject.message and "firm:DEMO" in reject.message


@pytest.mark.parametrize(("qty", "passes"), [("500", True), ("501", False)])
def test_max_quantity_boundary_and_tightest_scope_wins(qty: str, passes: bool) -> None:
    limits = {FIRM: LimitSet(max_order_quantity=D(10_000)), "desk:EQUITIES": LimitSet(max_order_quantity=D(500))}
    reject = check(facts(qty=qty), limits)
    if passes:
        assert reject is None
    else:
        assert reject is not None and reject.code is RejectCode.RISK_MAX_QUANTITY
        assert reject.detail == {"rule": "max_order_quantity", "scope": "desk:EQUITIES", "limit": "500", "value": "501"}


@pytest.mark.parametrize(("qty", "passes"), [("100", True), ("101", False)])
def test_max_notional_boundary_on_limit_price(qty: str, passes: bool) -> None:
    limits = {"account:ACC-EQ-1": LimitSet(max_order_notional=D(23_000))}
    reject = check(facts(qty=qty), limits)
    assert (reject is None) is passes
    if reject is not None:
        assert reject.code is RejectCode.RISK_MAX_NOTIONAL and reject.detail["value"] == "23230.00"
        assert "23230.00 USD is above the account:ACC-EQ-1 limit of 23000" in reject.message


def test_market_order_notional_uses_the_far_touch() -> None:
    limits = {FIRM: LimitSet(max_order_notional=D(23_000))}
    assert check(facts(price=None, ord_type=OrdType.MARKET, side=Side.SELL), limits) is None  # 100 x 229.99
    reject = check(facts(price=None, ord_type=OrdType.MARKET, side=Side.BUY), limits)  # 100 x 230.01
    assert reject is not None and reject.code is RejectCode.RISK_MAX_NOTIONAL and reject.detail["value"] == "23001.00"


def test_notional_counts_multiplier_and_percent_of_par() -> None:
    limits = {FIRM: LimitSet(max_order_notional=D(1_000_000))}
    future = facts(symbol="ESZ6", qty="3", price="6000.00")  # 3 x 6000 x 50 = 900,000
    assert check(future, limits, market=None) is None
    bond = facts(symbol="UST-10Y", qty="1100000", price="98.5", account="ACC-FI-1")  # 1,083,500
    reject = check(bond, limits, market=None)
    assert reject is not None and reject.code is RejectCode.RISK_MAX_NOTIONAL and reject.detail["value"] == "1083500.0"


@pytest.mark.parametrize(
    ("side", "price", "passes"),
    [(Side.BUY, "253.00", True), (Side.BUY, "253.01", False), (Side.BUY, "1.00", True),
     (Side.SELL, "207.00", True), (Side.SELL, "206.99", False), (Side.SELL, "999.00", True)],
)
def test_price_collar_refuses_only_aggressive_prices_beyond_the_band(side: Side, price: str, passes: bool) -> None:
    limits = {FIRM: LimitSet(price_collar_pct=D(10))}
    reject = check(facts(side=side, price=price), limits)
    assert (reject is None) is passes
    if reject is not None:
        assert reject.code is RejectCode.RISK_PRICE_COLLAR and reject.detail["limit"] == "10"
        assert "through the reference 230.00" in reject.message


def test_missing_or_stale_market_price_fails_closed_when_a_rule_needs_it() -> None:
    limits = {FIRM: LimitSet(price_collar_pct=D(10))}
    missing = check(facts(), limits, market=None)
    assert missing is not None and missing.code is RejectCode.RISK_NO_REFERENCE_PRICE
    stale = Reference(bid=D(1), ask=D(2), last=D("1.5"), ts=NOW - 5 * SECOND - 1)
    old = check(facts(), limits, market=stale)
    assert old is not None and old.code is RejectCode.RISK_STALE_REFERENCE_PRICE and old.detail["value"] == "5000"
    at_limit = Reference(bid=D("229.99"), ask=D("230.01"), last=D("230.00"), ts=NOW - 5 * SECOND)
    assert check(facts(), limits, market=at_limit) is None
    market_order = check(facts(price=None, ord_type=OrdType.MARKET), {FIRM: LimitSet(D(1000))}, market=None)
    assert market_order is not None and market_order.code is RejectCode.RISK_NO_REFERENCE_PRICE


def test_restricted_list_matches_the_symbol_and_derivatives_on_it() -> None:
    limits = {FIRM: LimitSet(D(1_000_000))}
    restricted = {"account:ACC-EQ-1": frozenset({Symbol("AAPL")})}
    reject = check(facts(), limits, restricted=restricted)
    assert reject is not None and reject.code is RejectCode.RISK_RESTRICTED
    assert reject.detail == {"rule": "restricted_list", "scope": "account:ACC-EQ-1", "value": "AAPL"}
    option = check(facts(symbol="AAPL261218C00230000", qty="1", price="12.50"), limits, restricted=restricted)
    assert option is not None and option.code is RejectCode.RISK_RESTRICTED
    other_account = check(facts(account="ACC-EQ-2"), limits, restricted=restricted)
    assert other_account is None


def test_a_check_that_cannot_be_evaluated_refuses_the_order() -> None:
    def broken(symbol: Symbol) -> Reference | None:
        raise RuntimeError("feed handler crashed")

    gate = RiskGate(REF, broken, 5 * SECOND)
    gate.limits[FIRM] = LimitSet(D(1000))
    aapl = REF.instruments[Symbol("AAPL")]
    verdict = gate.check(facts(), aapl, NOW)
    assert verdict.reject is not None and verdict.reject.code is RejectCode.RISK_CHECK_FAILED
    assert "feed handler crashed" in verdict.reject.message
    gate.prices = lambda symbol: Reference(bid=D("NaN"), ask=D(1), last=D("sNaN"), ts=NOW)
    garbage = gate.check(facts(), aapl, NOW)
    assert garbage.reject is not None and garbage.reject.code is RejectCode.RISK_CHECK_FAILED


@pytest.mark.parametrize(
    ("values", "message"),
    [({"max_order_qty": "1"}, "unknown limit 'max_order_qty'"), ({"max_order_quantity": "-1"}, "must be positive"),
     ({"max_order_notional": 1.5}, "decimal string or an integer"), ({"price_collar_pct": "ten"}, "must be a number"),
     ({"price_collar_pct": "NaN"}, "must be positive")],
)
def test_limit_definitions_are_validated(values: dict[str, object], message: str) -> None:
    with pytest.raises(LimitError, match=message):
        LimitSet.parse(values, "test")
