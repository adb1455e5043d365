"""Property test: whatever mix of fills, busts, corrections, allocations and cancellations happens,
the positions across accounts add up to the live executions, total P&L is what the executions made,
and replaying the journal rebuilds the same book."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from test_day_end_to_end import rebuild

from builders import VENUE
from openoms.domain import commands as cmd
from openoms.domain.ids import AccountId, ExecId, OrderId
from openoms.domain.values import Side
from openoms.posttrade import commands as pc
from openoms.posttrade.events import AllocationTarget
from posttrade_desk import OPS, posttrade_desk

D = Decimal
ACCOUNTS = [AccountId("ACC-EQ-1"), AccountId("ACC-EQ-2"), AccountId("ACC-FI-1")]
MARK = D("231.00")

step = st.one_of(
    st.tuples(st.just("order"), st.sampled_from([Side.BUY, Side.SELL]), st.lists(st.tuples(st.integers(1, 300), st.integers(22900, 23100)),
                                                                               min_size=1, max_size=3)),
    st.tuples(st.just("bust"), st.integers(0, 50)),
    st.tuples(st.just("correct"), st.integers(0, 50), st.integers(1, 300), st.integers(22900, 23100)),
    st.tuples(st.just("allocate"), st.integers(0, 20), st.lists(st.integers(1, 9), min_size=1, max_size=3)),
    st.tuples(st.just("cancel_allocation"), st.integers(0, 10)),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(step, min_size=1, max_size=25))
def test_positions_and_pnl_always_add_up_to_the_live_executions(steps: list[tuple]) -> None:  # type: ignore[type-arg]
    desk, book = posttrade_desk()
    orders: list[str] = []
    execs: list[str] = []
    for action, *args in steps:
        if action == "order":
            side, fills = args
            oid = desk.submit_ok(str(sum(q for q, _ in fills)), "231.00" if side is Side.BUY else "229.00", side=side)
            desk.ack(oid)
            for qty, cents in fills:
                exec_id = f"E{len(execs) + 1}"
                desk.fill(oid, str(qty), str(D(cents) / 100), exec_id=exec_id)
                execs.append(exec_id)
            orders.append(oid)
        elif action == "bust" and execs:
            desk.send(cmd.VenueTradeBusted(actor=VENUE, exec_id=ExecId(execs[args[0] % len(execs)])))
        elif action == "correct" and execs:
            index, qty, cents = args
            desk.send(cmd.VenueTradeCorrected(actor=VENUE, exec_id=ExecId(execs[index % len(execs)]), last_qty=D(qty),
                                              last_px=D(cents) / 100))
        elif action == "allocate" and orders:
            index, shares = args
            oid = orders[index % len(orders)]
            if desk.engine.orders[OrderId(oid)].working.value != "filled":
                desk.cancel(oid)
                desk.venue_canceled(oid)
            targets = [AllocationTarget(ACCOUNTS[i], weight=D(w) / sum(shares)) for i, w in enumerate(shares)]
            if sum((t.weight for t in targets if t.weight is not None), D(0)) == 1:
                desk.send(pc.AllocateBlock(actor=OPS, orders=[OrderId(oid)], method="weight", targets=targets))
        elif action == "cancel_allocation" and book.allocations:
            ids = sorted(book.allocations)
            desk.send(pc.CancelAllocation(actor=OPS, allocation_id=ids[args[0] % len(ids)], reason="test"))

    live = [t for t in book.trades.values() if t.status != "busted"]
    held = sum((lg.position.quantity for lg in book.ledgers.values()), D(0))
    assert held == sum((t.quantity * t.side.sign for t in live), D(0))
    # Total P&L (realized + marked) over every account equals what the executions made, up to the
    # 28-digit division of an average price.
    made = sum(((MARK - t.price) * t.quantity * t.side.sign for t in live), D(0))
    pnl = sum((lg.position.realized_pnl + lg.position.unrealized_pnl(MARK, lg.instrument) for lg in book.ledgers.values()), D(0))
    assert abs(pnl - made) < D("1E-12")
    for allocation in book.allocations.values():
        if allocation.status == "booked":
            assert sum(line.quantity for line in allocation.booked.lines) == allocation.booked.quantity
    rebuilt = rebuild(desk.events)
    assert {k: (v.position.quantity, v.position.cost, v.position.realized_pnl) for k, v in rebuilt.ledgers.items()} == \
           {k: (v.position.quantity, v.position.cost, v.position.realized_pnl) for k, v in book.ledgers.items()}
