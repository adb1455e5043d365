"""Positions and realized P&L as a fold over fills (average-cost method), exact in Decimal."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from .ids import AccountId, ExecId, Symbol
from .instruments import Instrument
from .values import ZERO


@dataclass(slots=True)
class Position:
    account: AccountId
    symbol: Symbol
    quantity: Decimal = ZERO  # signed: long > 0, short < 0
    cost: Decimal = ZERO  # signed quantity * average price of the open quantity, in price units
    realized_pnl: Decimal = ZERO  # in the instrument's currency
    bought: Decimal = ZERO
    sold: Decimal = ZERO
    fills: int = 0
    history: list[tuple[ExecId, Decimal, Decimal]] = field(default_factory=list)  # (exec, signed qty, price)

    @property
    def avg_price(self) -> Decimal:
        return self.cost / self.quantity if self.quantity else ZERO

    def apply_fill(self, exec_id: ExecId, signed_qty: Decimal, price: Decimal, instrument: Instrument) -> None:
        self.history.append((exec_id, signed_qty, price))
        self._fold(signed_qty, price, instrument)

    def _fold(self, signed_qty: Decimal, price: Decimal, instrument: Instrument) -> None:
        self.fills += 1
        if signed_qty > ZERO:
            self.bought += signed_qty
        else:
            self.sold -= signed_qty
        held = self.quantity
        if held == ZERO or (held > ZERO) == (signed_qty > ZERO):
            self.quantity = held + signed_qty
            self.cost += signed_qty * price
            return
        # Reducing (and maybe flipping): realize P&L on the closed part at the average price.
        closing = min(abs(signed_qty), abs(held))
        average = self.cost / held
        direction = Decimal(1) if held > ZERO else Decimal(-1)
        self.realized_pnl += instrument.notional(closing, (price - average) * direction)
        remaining = held + signed_qty
        if remaining == ZERO or (remaining > ZERO) == (held > ZERO):
            self.cost = average * remaining
        else:  # flipped: the rest opens a new position at this fill's price
            self.cost = remaining * price
        self.quantity = remaining

    def amend_fill(self, exec_id: ExecId, fill: tuple[Decimal, Decimal] | None, instrument: Instrument) -> None:
        """Bust (``fill`` None) or correct one fill, then refold the history: unwinds exactly."""
        history = []
        for entry in self.history:
            if entry[0] != exec_id:
                history.append(entry)
            elif fill is not None:
                history.append((exec_id, fill[0], fill[1]))
        self.quantity = self.cost = self.realized_pnl = self.bought = self.sold = ZERO
        self.fills = 0
        self.history = history
        for _, signed_qty, price in history:
            self._fold(signed_qty, price, instrument)

    def unrealized_pnl(self, mark: Decimal, instrument: Instrument) -> Decimal:
        if not self.quantity:
            return ZERO
        return instrument.notional(self.quantity, mark - self.avg_price)
