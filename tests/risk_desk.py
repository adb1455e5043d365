"""A Desk whose engine has pre-trade risk wired, with a market the test controls."""

from __future__ import annotations

from decimal import Decimal

from builders import ACTOR, T0, Desk
from openoms.demo import demo_reference
from openoms.domain import commands as cmd
from openoms.domain.accounts import ReferenceData
from openoms.domain.engine import OrderEngine
from openoms.domain.ids import Symbol
from openoms.risk.checks import Reference
from openoms.risk.fx import FxRates
from openoms.risk.gate import RiskGate

D = Decimal
HOUR = 3600 * 10**9


class Market(dict[Symbol, Reference]):
    def quote(self, symbol: str, last: str, spread: str = "0.01", ts: int = T0, halted: bool = False) -> None:
        px = D(last)
        self[Symbol(symbol)] = Reference(bid=px - D(spread), ask=px + D(spread), last=px, ts=ts, halted=halted)


def risk_desk(limits: dict[str, dict[str, str]], market: Market | None = None, fx: dict[str, str] | None = None,
              reference: ReferenceData | None = None) -> tuple[Desk, Market]:
    market = market if market is not None else Market()
    if not market:
        for symbol, last in (("AAPL", "230.00"), ("MSFT", "420.00"), ("SAP", "210.00"), ("ESZ6", "6000.00"),
                             ("AAPL261218C00230000", "12.50"), ("UST-10Y", "98.5")):
            market.quote(symbol, last)
    reference = reference or demo_reference()
    gate = RiskGate(reference, market.get, 24 * HOUR, FxRates({k: D(v) for k, v in (fx or {}).items()}))
    desk = Desk(OrderEngine(reference, gate=gate))
    for scope, values in limits.items():
        desk.send(cmd.SetLimits(actor=ACTOR, scope=scope, limits=values, reason="test"))
    return desk, market


def filled(desk: Desk, qty: str, price: str, **kwargs: object) -> str:
    order_id = desk.submit_ok(qty, price, **kwargs)  # type: ignore[arg-type]
    desk.ack(order_id)
    desk.fill(order_id, qty, price)
    return order_id
