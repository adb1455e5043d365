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
        # Reducing (and maybe flipping). The closed part takes its share of the cost basis; a full
        # close takes all of it with no division, so a round trip to flat realizes the exact cash
        # difference (only a partial close divides, to 28 significant digits).
        closing = min(abs(signed_qty), abs(held))
        closed_cost = self.cost if closing == abs(held) else self.cost * closing / abs(held)
        direction = 1 if held > ZERO else -1
        self.realized_pnl += instrument.notional(Decimal(1), direction * closing * price - closed_cost)
        self.cost -= closed_cost
        remaining = held + signed_qty
        if remaining != ZERO and (remaining > ZERO) != (held > ZERO):
            self.cost = remaining * price  # flipped: the rest opens a new position at this fill's price
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
