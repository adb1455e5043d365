"""What pre-trade risk knows about one account: its positions, the notional of its working
orders, today's message and fill counts and realized P&L, recent amendments, and its stock
locates. The engine keeps one ``AccountBook`` per account, updated as events apply, so account-
wide limits (credit, exposure, loss, order-to-trade) cost a lookup, not a walk over orders.

Everything here is derived from journaled events: replay rebuilds it exactly.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from .ids import AccountId, OrderId, Symbol
from .instruments import Instrument
from .positions import Position
from .values import ZERO

NS_PER_SECOND = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_SECOND


@dataclass(slots=True)
class Locate:
    """A borrow located for short sales: ``quantity`` shares of one instrument until ``expires_at``."""

    locate_id: str
    quantity: Decimal
    expires_at: int
    used: Decimal = ZERO

    def available(self, now: int) -> Decimal:
        return self.quantity - self.used if now < self.expires_at else ZERO


@dataclass(slots=True)
class AccountBook:
    account: AccountId
    positions: dict[Symbol, Position] = field(default_factory=dict)  # the engine's Position objects
    # Notional of working orders at their risk price, in each instrument's currency: [buys, sells]
    working_notional: dict[str, list[Decimal]] = field(default_factory=dict)
    # Working quantity per instrument, [buys, sells]: what position limits count
    working_qty: dict[Symbol, list[Decimal]] = field(default_factory=dict)
    symbols: set[Symbol] = field(default_factory=set)  # instruments with a position or a working order
    day_start: int = -NS_PER_DAY  # the UTC day (ns) the day counters below are for
    day_messages: int = 0  # new orders, replace and cancel requests accepted today
    day_fills: int = 0
    day_realized: dict[str, Decimal] = field(default_factory=dict)  # realized P&L today, per currency
    # Each position's cost basis as cash (the notional of Position.cost), and the sum over the
    # long ones per currency (buying power used): kept as fills apply, read by every credit check.
    cost_notional: dict[Symbol, Decimal] = field(default_factory=dict)
    long_costs: dict[str, Decimal] = field(default_factory=dict)
    recent_replaces: deque[int] = field(default_factory=deque)
    recent_cancels: deque[int] = field(default_factory=deque)
    locates: dict[Symbol, list[Locate]] = field(default_factory=dict)
    locate_use: dict[OrderId, list[tuple[Locate, Decimal]]] = field(default_factory=dict)

    # --- kept by the engine ------------------------------------------------------------

    def new_day(self, ts: int) -> None:
        """Reset the day counters when an event falls on a later UTC day than the last one."""
        if ts - self.day_start >= NS_PER_DAY:
            self.day_start = ts - ts % NS_PER_DAY
            self.day_messages = 0
            self.day_fills = 0
            self.day_realized = {}

    def is_today(self, now: int) -> bool:
        return 0 <= now - self.day_start < NS_PER_DAY

    def add_working(self, symbol: Symbol, is_buy: bool, delta: Decimal) -> None:
        sides = self.working_qty.get(symbol)
        if sides is None:
            sides = self.working_qty[symbol] = [ZERO, ZERO]
            self.symbols.add(symbol)
        sides[0 if is_buy else 1] += delta

    def add_notional(self, currency: str, is_buy: bool, delta: Decimal) -> None:
        sides = self.working_notional.get(currency)
        if sides is None:
            sides = self.working_notional[currency] = [ZERO, ZERO]
        sides[0 if is_buy else 1] += delta

    def add_realized(self, currency: str, delta: Decimal) -> None:
        if delta:
            self.day_realized[currency] = self.day_realized.get(currency, ZERO) + delta

    def position_changed(self, position: Position, instrument: Instrument, realized_before: Decimal) -> None:
        """A fill, bust or correction moved ``position``: today's realized P&L and the cost basis follow."""
        self.add_realized(instrument.currency, position.realized_pnl - realized_before)
        symbol = position.symbol
        before = self.cost_notional.get(symbol, ZERO)
        was_long = before > ZERO  # a long position's cost is positive, a short's negative
        after = instrument.notional(Decimal(1), position.cost) if position.quantity else ZERO
        self.cost_notional[symbol] = after
        delta = (after if position.quantity > ZERO else ZERO) - (before if was_long else ZERO)
        if delta:
            currency = instrument.currency
            self.long_costs[currency] = self.long_costs.get(currency, ZERO) + delta

    def grant_locate(self, symbol: Symbol, locate: Locate) -> None:
        self.locates.setdefault(symbol, []).append(locate)

    def use_locates(self, order_id: OrderId, symbol: Symbol, quantity: Decimal, now: int) -> None:
        """A short sale takes borrow, soonest-expiring locate first (checked before it was accepted)."""
        uses = self.locate_use.setdefault(order_id, [])
        for locate in sorted(self.locates.get(symbol, ()), key=lambda item: item.expires_at):
            if quantity <= ZERO:
                break
            take = min(locate.available(now), quantity)
            if take > ZERO:
                locate.used += take
                uses.append((locate, take))
                quantity -= take

    def return_locates(self, order_id: OrderId, quantity: Decimal) -> None:
        """Borrow an order no longer needs (canceled, expired, replaced down) goes back, last taken first."""
        uses = self.locate_use.get(order_id)
        while uses and quantity > ZERO:
            locate, taken = uses[-1]
            back = min(taken, quantity)
            locate.used -= back
            quantity -= back
            if back == taken:
                uses.pop()
            else:
                uses[-1] = (locate, taken - back)

    def order_done(self, order_id: OrderId) -> None:
        self.locate_use.pop(order_id, None)

    # --- read by the risk rules --------------------------------------------------------

    def locate_available(self, symbol: Symbol, now: int) -> Decimal:
        return sum((locate.available(now) for locate in self.locates.get(symbol, ())), ZERO)

    def locates_held(self, order_id: OrderId) -> Decimal:
        return sum((taken for _, taken in self.locate_use.get(order_id, ())), ZERO)

    def messages_within(self, recent: deque[int], now: int) -> int:
        floor = now - NS_PER_SECOND
        return sum(1 for ts in recent if ts > floor)

    @staticmethod
    def remember(recent: deque[int], ts: int) -> None:
        recent.append(ts)
        while recent[0] <= ts - NS_PER_SECOND:
            recent.popleft()
