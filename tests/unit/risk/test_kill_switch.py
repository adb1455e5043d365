"""Kill switch: working orders in scope are canceled at once, new ones refused, except orders
that only shrink a position (never flip it); release restores trading. Journaled and replayed."""

from __future__ import annotations

from builders import ACTOR, Desk, of_type, only_rejection, replay, snapshot
from openoms.domain import commands as cmd
from openoms.domain import events as ev
from openoms.domain.lifecycle import OrdStatus
from openoms.domain.rejects import RejectCode
from openoms.domain.values import Side


def engage(desk: Desk, scope: str) -> list[ev.Event]:
    return desk.send(cmd.EngageKillSwitch(actor=ACTOR, scope=scope, reason="runaway algo"))


def release(desk: Desk, scope: str) -> list[ev.Event]:
    return desk.send(cmd.ReleaseKillSwitch(actor=ACTOR, scope=scope, reason="fixed"))


def long_position(desk: Desk, account: str = "ACC-EQ-1", qty: str = "100") -> None:
    order_id = desk.submit_ok(qty, "230.00", account=account)
    desk.ack(order_id)
    desk.fill(order_id, qty, "230.00")


def test_engaging_cancels_working_orders_in_scope_only() -> None:
    desk = Desk()
    in_scope = desk.submit_ok(account="ACC-EQ-1")
    other_account = desk.submit_ok(account="ACC-EQ-2")
    pending_new = desk.submit_ok(account="ACC-EQ-1")
    desk.ack(in_scope)
    desk.ack(other_account)
    events = engage(desk, "account:ACC-EQ-1")
    assert [type(e) for e in events] == [ev.KillSwitchEngaged, ev.CancelRequested, ev.CancelRequested]
    assert {e.order_id for e in of_type(events, ev.CancelRequested)} == {in_scope, pending_new}
    desk.venue_canceled(in_scope)
    assert desk.order(in_scope).status is OrdStatus.CANCELED
    assert desk.order(other_account).status is OrdStatus.NEW


def test_while_engaged_new_orders_are_refused_with_the_scope_and_reason() -> None:
    desk = Desk()
    engage(desk, "desk:EQUITIES")
    refusal = only_rejection(desk.submit(account="ACC-EQ-2"))
    assert refusal.reason.code is RejectCode.KILL_SWITCH
    assert refusal.reason.detail["scope"] == "desk:EQUITIES" and "runaway algo" in refusal.reason.message
    assert of_type(desk.submit(account="ACC-FI-1", symbol="UST-10Y", qty="1000000", price="98.5"), ev.OrderAccepted)


def test_only_orders_that_reduce_a_position_without_flipping_it_are_admitted() -> None:
    desk = Desk()
    long_position(desk, qty="100")
    engage(desk, "instrument:AAPL")
    assert only_rejection(desk.submit("10", "230.00")).reason.code is RejectCode.KILL_SWITCH  # adds to the long
    assert only_rejection(desk.submit("101", "230.00", side=Side.SELL)).reason.code is RejectCode.KILL_SWITCH  # flips
    first = desk.submit_ok("60", "230.00", side=Side.SELL)
    # 60 already working to sell: another 41 would flip the position, 40 does not.
    assert only_rejection(desk.submit("41", "230.00", side=Side.SELL)).reason.code is RejectCode.KILL_SWITCH
    assert desk.submit_ok("40", "230.00", side=Side.SELL)
    desk.ack(first)
    refused = only_rejection(desk.replace(first, "UP", qty="61"))
    assert refused.reason.code is RejectCode.KILL_SWITCH
    assert of_type(desk.replace(first, "DOWN", qty="50"), ev.ReplaceRequested)
    # Outside the engaged scope (another instrument) trading goes on.
    assert of_type(desk.submit("1", "230.00", symbol="MSFT", side=Side.SELL), ev.OrderAccepted)


def test_release_restores_trading_and_state_replays() -> None:
    desk = Desk()
    engage(desk, "firm:DEMO")
    assert engage(desk, "firm:DEMO") == []  # already engaged, nothing working: nothing to journal
    assert only_rejection(desk.submit()).reason.code is RejectCode.KILL_SWITCH
    assert [type(e) for e in release(desk, "firm:DEMO")] == [ev.KillSwitchReleased]
    assert of_type(desk.submit(), ev.OrderAccepted)
    assert only_rejection(release(desk, "firm:DEMO")).reason.code is RejectCode.INVALID_SCOPE
    assert only_rejection(engage(desk, "galaxy:FAR")).reason.code is RejectCode.INVALID_SCOPE
    engage(desk, "trader:demo")
    rebuilt = replay(desk.events)
    assert rebuilt.kill_switches == {"trader:demo": "runaway algo"}
    assert snapshot(rebuilt) == snapshot(desk.engine)


def test_an_order_with_a_replace_in_flight_is_canceled_once_the_replace_is_answered() -> None:
    desk = Desk()
    replaced = desk.submit_ok()
    refused = desk.submit_ok()
    for order_id in (replaced, refused):
        desk.ack(order_id)
        assert of_type(desk.replace(order_id, f"R-{order_id}", qty="50"), ev.ReplaceRequested)
    events = engage(desk, "account:ACC-EQ-1")
    assert [type(e) for e in events] == [ev.KillSwitchEngaged, ev.CancelDeferred, ev.CancelDeferred]
    assert engage(desk, "account:ACC-EQ-1") == []  # engaged again: nothing twice
    answered = desk.venue_replaced(replaced, "50", "230.00")
    assert [type(e) for e in answered] == [ev.OrderReplaced, ev.CancelRequested]
    answered = desk.replace_rejected(refused)
    assert [type(e) for e in answered] == [ev.ReplaceRejected, ev.CancelRequested]
    for order_id in (replaced, refused):
        desk.venue_canceled(order_id)
        assert desk.order(order_id).status is OrdStatus.CANCELED
    assert snapshot(replay(desk.events)) == snapshot(desk.engine)


def test_only_a_risk_officer_releases_a_kill_switch() -> None:
    desk = Desk()
    engage(desk, "firm:DEMO")
    refusal = only_rejection(desk.send(cmd.ReleaseKillSwitch(actor=cmd.Actor("alice", "test"), scope="firm:DEMO", reason="x")))
    assert refusal.reason.code is RejectCode.NOT_PERMITTED and "risk_officer" in refusal.reason.message
    assert of_type(desk.send(cmd.ReleaseKillSwitch(actor=cmd.Actor("risk", "test"), scope="firm:DEMO", reason="ok")),
                   ev.KillSwitchReleased)
