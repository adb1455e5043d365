"""Duplicate-order detection and new-order throttles, per account, with their boundaries."""

from __future__ import annotations

from decimal import Decimal

from builders import ACTOR, T0, Desk, of_type, only_rejection, replay
from openoms.demo import demo_reference
from openoms.domain import commands as cmd
from openoms.domain import events as ev
from openoms.domain.engine import OrderEngine
from openoms.domain.ids import Symbol
from openoms.domain.rejects import RejectCode
from openoms.domain.values import Side
from openoms.risk.checks import Reference
from openoms.risk.gate import RiskGate

D = Decimal
MS = 1_000_000
QUOTES = {Symbol("AAPL"): Reference(bid=D("229.99"), ask=D("230.01"), last=D("230.00"), ts=T0)}


def desk_with(**limits: str) -> Desk:
    reference = demo_reference()
    desk = Desk(OrderEngine(reference, gate=RiskGate(reference, QUOTES.get, 10**15)))
    desk.send(cmd.SetLimits(actor=ACTOR, scope="desk:EQUITIES", limits=dict(limits), reason="test"))
    return desk


def test_identical_order_within_the_window_is_a_duplicate() -> None:
    desk = desk_with(duplicate_window_ms="500")
    start = desk.now
    assert of_type(desk.submit("100", "230.00"), ev.OrderAccepted)
    refused = only_rejection(desk.submit("100", "230.00"))
    assert refused.reason.code is RejectCode.RISK_DUPLICATE_ORDER
    assert refused.reason.detail["rule"] == "duplicate_window_ms" and refused.reason.detail["limit"] == "500"
    # Not identical: another price, quantity, side or account.
    assert of_type(desk.submit("100", "230.01"), ev.OrderAccepted)
    assert of_type(desk.submit("101", "230.00"), ev.OrderAccepted)
    assert of_type(desk.submit("100", "230.00", side=Side.SELL), ev.OrderAccepted)
    assert of_type(desk.submit("100", "230.00", account="ACC-EQ-2"), ev.OrderAccepted)
    desk.now = start + 499 * MS
    assert only_rejection(desk.submit("100", "230.00")).reason.code is RejectCode.RISK_DUPLICATE_ORDER
    desk.now = start + 500 * MS  # the window is [t, t + 500 ms)
    assert of_type(desk.submit("100", "230.00"), ev.OrderAccepted)


def test_new_orders_per_second_are_throttled_per_account() -> None:
    desk = desk_with(max_orders_per_second="3")
    start = desk.now
    for price in ("230.00", "230.01", "230.02"):
        assert of_type(desk.submit("100", price), ev.OrderAccepted)
    refused = only_rejection(desk.submit("100", "230.03"))
    assert refused.reason.code is RejectCode.RISK_THROTTLE
    assert refused.reason.detail == {"rule": "max_orders_per_second", "scope": "desk:EQUITIES", "limit": "3", "value": "4"}
    assert of_type(desk.submit("100", "230.03", account="ACC-EQ-2"), ev.OrderAccepted)  # another account
    desk.now = start + 1000 * MS  # the first order is now a second old
    assert of_type(desk.submit("100", "230.03"), ev.OrderAccepted)


def test_recent_activity_is_rebuilt_by_replay() -> None:
    desk = desk_with(duplicate_window_ms="1000", max_orders_per_second="10")
    for price in ("230.00", "230.01"):
        desk.submit("100", price)
    rebuilt = replay(desk.events)
    assert rebuilt.last_identical == desk.engine.last_identical
    assert rebuilt.recent_orders == desk.engine.recent_orders
