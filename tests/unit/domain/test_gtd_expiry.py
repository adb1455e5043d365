"""Good-till-date orders expire at their own time (the timer's ExpireDue), not only at the close."""

from __future__ import annotations

from builders import ACTOR, STEP, Desk, of_type, replay, snapshot
from openoms.domain import commands as cmd
from openoms.domain import events as ev
from openoms.domain.lifecycle import OrdStatus
from openoms.domain.values import TimeInForce

SECOND = 1_000_000_000


def test_expire_due_when_gtd_time_reached_then_only_that_order_expires() -> None:
    desk = Desk()
    soon = desk.submit_ok(tif=TimeInForce.GTD, expire_at=desk.now + 10 * SECOND)
    later = desk.submit_ok(tif=TimeInForce.GTD, expire_at=desk.now + 3600 * SECOND)
    day = desk.submit_ok()
    for order_id in (soon, later, day):
        desk.ack(order_id)
    assert desk.send(cmd.ExpireDue(actor=ACTOR)) == []  # nothing due yet: nothing journaled
    desk.fill(soon, "40", "230.00")

    events = desk.send(cmd.ExpireDue(actor=ACTOR), now=desk.now + 11 * SECOND)
    expired = of_type(events, ev.OrderExpired)
    assert [e.order_id for e in expired] == [soon]
    assert desk.order(soon).status is OrdStatus.EXPIRED
    assert desk.order(soon).cum_qty == 40 and desk.order(soon).leaves_qty == 0
    assert desk.order(later).status is OrdStatus.NEW and desk.order(day).status is OrdStatus.NEW
    assert soon not in desk.engine.good_till_date and later in desk.engine.good_till_date
    assert desk.send(cmd.ExpireDue(actor=ACTOR), now=desk.now + STEP) == []  # expires once


def test_gtd_index_is_rebuilt_by_replay_and_drops_finished_orders() -> None:
    desk = Desk()
    keep = desk.submit_ok(tif=TimeInForce.GTD, expire_at=desk.now + 3600 * SECOND)
    gone = desk.submit_ok(tif=TimeInForce.GTD, expire_at=desk.now + 3600 * SECOND)
    desk.ack(keep)
    desk.ack(gone)
    desk.fill(gone, "100", "230.00")
    assert set(desk.engine.good_till_date) == {keep}
    rebuilt = replay(desk.events)
    assert set(rebuilt.good_till_date) == {keep}
    assert snapshot(rebuilt) == snapshot(desk.engine)
