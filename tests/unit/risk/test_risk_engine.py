"""Pre-trade risk inside the engine: every submit and replace passes the gate, limits change
only through journaled events, and replay rebuilds the limits in force."""

from __future__ import annotations

from decimal import Decimal

from builders import ACTOR, T0, Desk, of_type, only_rejection, route_of
from openoms.demo import demo_reference
from openoms.domain import commands as cmd
from openoms.domain import events as ev
from openoms.domain.engine import OrderEngine
from openoms.domain.ids import OrderId, Symbol
from openoms.domain.rejects import RejectCode
from openoms.journal.codec import decode, encode
from openoms.risk.checks import Reference
from openoms.risk.gate import RiskGate

D = Decimal
QUOTES = {Symbol("AAPL"): Reference(bid=D("229.99"), ask=D("230.01"), last=D("230.00"), ts=T0)}


def risky_desk() -> Desk:
    reference = demo_reference()
    gate = RiskGate(reference, QUOTES.get, 60 * 1_000_000_000)
    return Desk(OrderEngine(reference, gate=gate))


def set_limits(desk: Desk, scope: str, **limits: str) -> list[ev.Event]:
    return desk.send(cmd.SetLimits(actor=ACTOR, scope=scope, limits=dict(limits) or None, reason="test"))


def test_with_a_gate_and_no_limits_every_order_is_refused() -> None:
    desk = risky_desk()
    assert only_rejection(desk.submit()).reason.code is RejectCode.RISK_NO_LIMITS
    assert not desk.engine.orders


def test_limit_changes_are_journaled_with_the_previous_value_and_unchanged_ones_are_not() -> None:
    desk = risky_desk()
    first = set_limits(desk, "firm:DEMO", max_order_quantity="1000")
    assert [type(e) for e in first] == [ev.LimitsChanged]
    assert first[0].limits == {"max_order_quantity": "1000"} and first[0].previous is None  # type: ignore[attr-defined]
    assert set_limits(desk, "firm:DEMO", max_order_quantity="1000") == []
    second = set_limits(desk, "firm:DEMO", max_order_quantity="500")
    assert second[0].previous == {"max_order_quantity": "1000"}  # type: ignore[attr-defined]
    bad = only_rejection(set_limits(desk, "galaxy:FAR", max_order_quantity="1"))
    assert bad.reason.code is RejectCode.INVALID_LIMIT
    assert only_rejection(set_limits(desk, "firm:DEMO", max_order_quantity="0")).reason.code is RejectCode.INVALID_LIMIT


def test_submit_and_replace_pass_the_gate_and_the_reference_price_is_recorded() -> None:
    desk = risky_desk()
    set_limits(desk, "firm:DEMO", max_order_quantity="200", price_collar_pct="5")
    accepted = of_type(desk.submit("100", "230.00"), ev.OrderAccepted)[0]
    assert accepted.reference_price == D("230.00")
    order_id = accepted.order_id
    desk.ack(order_id)
    refused = only_rejection(desk.replace(order_id, "R1", qty="300"))
    assert refused.reason.code is RejectCode.RISK_MAX_QUANTITY and refused.order_id == order_id
    collared = only_rejection(desk.replace(order_id, "R2", price="245.00"))
    assert collared.reason.code is RejectCode.RISK_PRICE_COLLAR
    assert of_type(desk.replace(order_id, "R3", qty="150"), ev.ReplaceRequested)
    assert only_rejection(desk.submit("100", "230.00", symbol="MSFT")).reason.code is RejectCode.RISK_NO_REFERENCE_PRICE


def test_restricted_list_changes_apply_at_once_and_replay_rebuilds_the_gate() -> None:
    desk = risky_desk()
    set_limits(desk, "firm:DEMO", max_order_quantity="1000")
    changed = desk.send(cmd.SetRestricted(actor=ACTOR, scope="firm:DEMO", symbols=["AAPL", "AAPL"], reason="MNPI"))
    assert changed[0].symbols == ["AAPL"]  # type: ignore[attr-defined]
    assert only_rejection(desk.submit()).reason.code is RejectCode.RISK_RESTRICTED
    desk.send(cmd.SetRestricted(actor=ACTOR, scope="firm:DEMO", symbols=[], reason="cleared"))
    order_id = of_type(desk.submit(), ev.OrderAccepted)[0].order_id
    desk.ack(order_id)

    reference = demo_reference()
    rebuilt_gate = RiskGate(reference, QUOTES.get, 60 * 1_000_000_000)
    rebuilt = OrderEngine(reference, gate=rebuilt_gate)
    for event in desk.events:
        rebuilt.apply(decode(encode(event)))
    assert rebuilt_gate.limits == desk.engine.gate.limits  # type: ignore[union-attr]
    assert rebuilt_gate.restricted == {} and OrderId(order_id) in rebuilt.orders
    assert rebuilt.orders[OrderId(order_id)].routes[route_of(order_id)].venue_order_id is not None
