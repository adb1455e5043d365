"""Position limits count working orders the moment they are accepted; no sequence of orders,
fills, cancels and replaces can take an account past its long or short limit."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import ACTOR, T0, Desk, of_type, only_rejection, replay
from openoms.demo import demo_reference
from openoms.domain import commands as cmd
from openoms.domain import events as ev
from openoms.domain.engine import OrderEngine
from openoms.domain.ids import AccountId, Symbol
from openoms.domain.lifecycle import OrdStatus
from openoms.domain.rejects import RejectCode
from openoms.domain.values import Side
from openoms.risk.checks import Reference
from openoms.risk.gate import RiskGate

D = Decimal
ACCOUNT = AccountId("ACC-EQ-1")
AAPL = Symbol("AAPL")
QUOTES = {AAPL: Reference(bid=D("229.99"), ask=D("230.01"), last=D("230.00"), ts=T0)}
MAX_LONG, MAX_SHORT = D(500), D(300)


def limited_desk() -> Desk:
    reference = demo_reference()
    desk = Desk(OrderEngine(reference, gate=RiskGate(reference, QUOTES.get, 10**15)))
    desk.send(cmd.SetLimits(actor=ACTOR, scope="firm:DEMO", reason="test",
                            limits={"max_long_position": str(MAX_LONG), "max_short_position": str(MAX_SHORT)}))
    return desk


def standing(desk: Desk) -> tuple[Decimal, Decimal, Decimal]:
    return desk.engine.exposure(ACCOUNT, AAPL)


def test_working_buys_count_at_once_and_the_boundary_is_inclusive() -> None:
    desk = limited_desk()
    first = desk.submit_ok("300", "230.00")
    refused = only_rejection(desk.submit("201", "230.00"))
    assert refused.reason.code is RejectCode.RISK_POSITION_LIMIT
    assert refused.reason.detail == {"rule": "max_long_position", "scope": "firm:DEMO", "limit": "500", "value": "501"}
    assert desk.submit_ok("200", "230.00")
    desk.ack(first)
    desk.fill(first, "300", "230.00")  # filled: moves from working to position, the total stays
    assert standing(desk) == (D(300), D(200), D(0))
    assert only_rejection(desk.submit("1", "230.00")).reason.code is RejectCode.RISK_POSITION_LIMIT


def test_short_limit_allows_selling_the_long_plus_the_short_limit() -> None:
    desk = limited_desk()
    bought = desk.submit_ok("100", "230.00")
    desk.ack(bought)
    desk.fill(bought, "100", "230.00")
    assert desk.submit_ok("400", "230.00", side=Side.SELL)  # 100 long, 300 short at most
    refused = only_rejection(desk.submit("1", "230.00", side=Side.SELL_SHORT))
    assert refused.reason.detail["rule"] == "max_short_position" and refused.reason.detail["value"] == "301"


def test_replace_up_is_judged_without_the_order_itself_and_cancel_frees_the_room() -> None:
    desk = limited_desk()
    order_id = desk.submit_ok("300", "230.00")
    desk.ack(order_id)
    desk.fill(order_id, "100", "230.00")
    assert of_type(desk.replace(order_id, "R1", qty="500"), ev.ReplaceRequested)  # 100 filled + 400 open = 500
    assert standing(desk) == (D(100), D(400), D(0))  # the pending larger quantity already counts
    assert only_rejection(desk.submit("1", "230.00")).reason.code is RejectCode.RISK_POSITION_LIMIT
    desk.replace_rejected(order_id)
    assert standing(desk) == (D(100), D(200), D(0))
    refused = only_rejection(desk.replace(order_id, "R2", qty="501"))
    assert refused.reason.code is RejectCode.RISK_POSITION_LIMIT
    desk.cancel(order_id, "C1")
    desk.venue_canceled(order_id)
    assert desk.order(order_id).status is OrdStatus.CANCELED
    assert standing(desk) == (D(100), D(0), D(0))
    assert desk.submit_ok("400", "230.00")


OPS = st.lists(
    # No busts or corrections: they are venue facts the OMS cannot refuse, and a bust of a fill
    # that reduced a position can legitimately leave working orders beyond a limit.
    st.tuples(st.sampled_from(["buy", "sell", "fill", "cancel", "replace", "eod"]),
              st.integers(1, 400), st.integers(0, 10)),
    max_size=60,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
def test_no_sequence_of_orders_fills_cancels_and_replaces_passes_a_position_limit(ops: list[tuple[str, int, int]]) -> None:
    desk = limited_desk()
    for op, qty, pick in ops:
        live = [o for o in desk.engine.live.values()]
        target = live[pick % len(live)] if live else None
        if op in ("buy", "sell"):
            order_id = of_type(desk.submit(str(qty), "230.00", side=Side.BUY if op == "buy" else Side.SELL), ev.OrderAccepted)
            if order_id:
                desk.ack(order_id[0].order_id)
        elif op == "fill" and target is not None and target.pending is None and target.leaves_qty > 0:
            desk.fill(target.order_id, str(min(D(qty), target.leaves_qty)), "230.00")
        elif op == "cancel" and target is not None and target.pending is None:
            desk.cancel(target.order_id, f"C{len(desk.events)}")
            desk.venue_canceled(target.order_id)
        elif op == "replace" and target is not None and target.pending is None:
            if of_type(desk.replace(target.order_id, f"R{len(desk.events)}", qty=str(qty)), ev.ReplaceRequested):
                if qty > target.cum_qty and pick % 2:
                    desk.venue_replaced(target.order_id, str(qty), "230.00")
                else:
                    desk.replace_rejected(target.order_id)
        elif op == "eod":
            desk.end_of_day()
            desk.next_day()
            desk.start_of_day()
        position, buys, sells = standing(desk)
        assert position + buys <= MAX_LONG, (position, buys)
        assert sells - position <= MAX_SHORT, (position, sells)
        # The working index is what the orders say it is.
        recount = [D(0), D(0)]
        for order in desk.engine.live.values():
            recount[0 if order.sign > 0 else 1] += order.working_qty
        assert [buys, sells] == recount
    rebuilt = replay(desk.events)
    assert {a: b.working_qty for a, b in rebuilt.books.items()} == {a: b.working_qty for a, b in desk.engine.books.items()}
    assert {a: b.working_notional for a, b in rebuilt.books.items()} == {a: b.working_notional for a, b in desk.engine.books.items()}
