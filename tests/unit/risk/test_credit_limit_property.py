"""No sequence of limit orders, fills (at the limit or better), cancels and replaces can take an
account past its credit limit: working buys count the moment they are accepted, and a fill at
or better than its limit can only turn working notional into an equal or smaller cost."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import of_type, replay
from openoms.domain import events as ev
from openoms.domain.ids import AccountId
from openoms.domain.values import Side
from openoms.risk.fx import FxRates
from risk_desk import risk_desk

D = Decimal
LIMIT = D(100_000)
FX = FxRates({"EURUSD": D("1.10")})
ACCOUNT = AccountId("ACC-EQ-1")
PRICES = {"AAPL": D("230.00"), "MSFT": D("420.00"), "SAP": D("210.00")}


def credit_used(desk) -> Decimal:  # type: ignore[no-untyped-def]
    """Recomputed from the orders and positions themselves, not from the engine's running totals."""
    instruments = desk.engine.reference.instruments
    used = D(0)
    for (account, symbol), position in desk.engine.positions.items():
        if account == ACCOUNT and position.quantity > 0:
            used += FX.convert(instruments[symbol].notional(D(1), position.cost), instruments[symbol].currency, "USD")
    for order in desk.engine.live.values():
        if order.account == ACCOUNT and order.side is Side.BUY:
            notional = instruments[order.symbol].notional(order.working_qty, order.risk_price)
            used += FX.convert(notional, instruments[order.symbol].currency, "USD")
    return used


OPS = st.lists(
    st.tuples(st.sampled_from(["buy", "buy", "sell", "fill", "cancel", "replace"]), st.sampled_from(sorted(PRICES)),
              st.integers(1, 300), st.integers(-20, 20), st.integers(0, 10)),
    max_size=50,
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
def test_no_sequence_passes_the_credit_limit(ops: list[tuple[str, str, int, int, int]]) -> None:
    desk, _ = risk_desk({"account:ACC-EQ-1": {"credit_limit": str(LIMIT)}}, fx={"EURUSD": "1.10"})
    for op, symbol, qty, ticks, pick in ops:
        live = [o for o in desk.engine.live.values() if o.pending is None]
        target = live[pick % len(live)] if live else None
        price = PRICES[symbol] + D(ticks) * D("0.02")
        if op in ("buy", "sell"):
            side = Side.BUY if op == "buy" else Side.SELL_SHORT
            accepted = of_type(desk.submit(str(qty), str(price), symbol=symbol, side=side), ev.OrderAccepted)
            if accepted:
                desk.ack(accepted[0].order_id)
        elif op == "fill" and target is not None and target.leaves_qty > 0 and target.price is not None:
            better = target.price - D("0.02") * (pick % 3) if target.side is Side.BUY else target.price + D("0.02") * (pick % 3)
            desk.fill(target.order_id, str(min(D(qty), target.leaves_qty)), str(better))
        elif op == "cancel" and target is not None:
            desk.cancel(target.order_id, f"C{len(desk.events)}")
            desk.venue_canceled(target.order_id)
        elif op == "replace" and target is not None and target.price is not None:
            new_price = target.price + D(ticks) * D("0.02")
            if of_type(desk.replace(target.order_id, f"R{len(desk.events)}", qty=str(qty), price=str(new_price)),
                       ev.ReplaceRequested):
                if qty > target.cum_qty and pick % 2:
                    desk.venue_replaced(target.order_id, str(qty), str(new_price))
                else:
                    desk.replace_rejected(target.order_id)
        used = credit_used(desk)
        assert used <= LIMIT, (used, op)
        book = desk.engine.books.get(ACCOUNT)
        if book is not None:  # the running totals the rule reads equal the recount
            running = sum((FX.convert(sides[0], ccy, "USD") for ccy, sides in book.working_notional.items()), D(0))
            running += sum((FX.convert(v, ccy, "USD") for ccy, v in book.long_costs.items()), D(0))
            assert running == used
    assert replay(desk.events).books == desk.engine.books
