"""The pre-trade gate as the engine sees it: a port, so the domain does not depend on the risk
package (layers: api > service > risk > domain). ``openoms.risk.gate.RiskGate`` implements it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from . import events as ev
from .ids import AccountId, Symbol, TraderId
from .instruments import Instrument
from .rejects import Reject
from .values import OrdType, Side


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """What pre-trade risk judges: the order as it would stand after the command."""

    account: AccountId
    trader: TraderId
    symbol: Symbol
    side: Side
    quantity: Decimal
    ord_type: OrdType
    price: Decimal | None
    stop_price: Decimal | None
    # The account's standing in the instrument before this order (replace: without the order's
    # own working quantity), for limits that count working orders.
    position: Decimal = Decimal(0)
    working_buys: Decimal = Decimal(0)
    working_sells: Decimal = Decimal(0)
    already_filled: Decimal = Decimal(0)  # a replace: what the order has filled (its quantity includes it)
    # Recent activity of the account, for duplicate detection and throttles (new orders only).
    last_identical_ts: int | None = None  # when the same account last sent the same side, instrument, qty and price
    orders_last_second: int = 0


@dataclass(frozen=True, slots=True)
class Verdict:
    reject: Reject | None
    reference_price: Decimal | None = None  # the market price the order was judged against, if any


class PreTradeGate(Protocol):
    def check(self, facts: OrderFacts, instrument: Instrument, now: int) -> Verdict: ...

    def limits_change(self, scope: str, limits: dict[str, str] | None) -> tuple[dict[str, str] | None, dict[str, str] | None] | Reject:
        """Validate a limits change: (new, previous) as text, or why it cannot be made."""
        ...

    def restricted_change(self, scope: str, symbols: list[str]) -> tuple[list[str], list[str]] | Reject: ...

    def apply(self, event: ev.LimitsChanged | ev.RestrictedListChanged) -> None: ...

    def explain(self, facts: OrderFacts, instrument: Instrument, now: int) -> list[tuple[str, Reject | None]]:
        """Every rule's answer, without deciding anything (what-if)."""
        ...
