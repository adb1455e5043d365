"""The pre-trade gate as the engine sees it: a port, so the domain does not depend on the risk
package (layers: api > service > risk > domain). ``openoms.risk.gate.RiskGate`` implements it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from . import events as ev
from .book import AccountBook
from .ids import AccountId, OrderId, Symbol, TraderId, VenueId
from .instruments import Instrument
from .rejects import Reject
from .values import OrdType, Side


@dataclass(slots=True)  # not frozen: a frozen dataclass sets each of its 20 fields through object.__setattr__
class OrderFacts:
    """What pre-trade risk judges: the order as it would stand after the command (read-only by convention)."""

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
    venue: VenueId | None = None  # where the order would be routed
    is_replace: bool = False
    book: AccountBook | None = None  # the account's positions, working notional, counters and locates
    own_notional: Decimal = Decimal(0)  # a replace: what the order counts for now (taken out, then re-added)
    reduces_only: bool = False  # shrinks the position and cannot flip it, counting same-side working orders
    replaces_last_second: int = 0
    locate_available: Decimal = Decimal(0)  # sell_short: borrow the order could use (incl. what it holds)
    # Self-trade prevention: resting opposite-side orders of the same beneficial owner in the
    # instrument that this order's price would cross: (order id, price, has a request pending).
    crossing: tuple[tuple[OrderId, Decimal | None, bool], ...] = ()


@dataclass(slots=True)
class Verdict:
    reject: Reject | None
    reference_price: Decimal | None = None  # the market price the order was judged against, if any
    alerts: tuple[str, ...] = ()  # compliance alerts that do not refuse (watch list)
    cancel_first: tuple[OrderId, ...] = ()  # self-trade prevention: resting orders to cancel before this one


class PreTradeGate(Protocol):
    overrides: dict[str, tuple[dict[str, str], int]]  # scope -> (overridden limits as text, expires_at ns)

    def check(self, facts: OrderFacts, instrument: Instrument, now: int) -> Verdict: ...

    def limits_change(self, scope: str, limits: dict[str, str] | None) -> tuple[dict[str, str] | None, dict[str, str] | None] | Reject:
        """Validate a limits change: (new, previous) as text, or why it cannot be made."""
        ...

    def restricted_change(self, scope: str, symbols: list[str], kind: str = "restricted") -> tuple[list[str], list[str]] | Reject: ...

    def apply(self, event: ev.Event) -> None:
        """Fold a limits, list or override event into the gate's state."""
        ...

    def override_change(self, scope: str, limits: dict[str, str]) -> dict[str, str] | Reject: ...

    def due_overrides(self, now: int) -> list[str]:
        """Scopes whose override has expired at ``now`` (the scheduler journals their end)."""
        ...

    def market_price(self, symbol: Symbol) -> Decimal | None:
        """The market price now, only to record it with a request (never to decide one)."""
        ...

    def check_cancel(self, account: AccountId, trader: TraderId, cancels_last_second: int, now: int) -> Reject | None:
        """The cancel-rate throttle: the only check a cancel request passes."""
        ...

    def explain(self, facts: OrderFacts, instrument: Instrument, now: int) -> list[tuple[str, Reject | None]]:
        """Every rule's answer, without deciding anything (what-if)."""
        ...
