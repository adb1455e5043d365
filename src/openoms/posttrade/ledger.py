"""One account's position in one instrument as an ordered set of entries (fills, allocation lines,
a start-of-day load), folded by ``domain.positions.Position``. Removing an entry (a bust, an
allocation undone) refolds the rest in journal order, so it unwinds exactly."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from ..domain.ids import AccountId, ExecId, Symbol
from ..domain.instruments import Instrument
from ..domain.positions import Position


@dataclass(slots=True)
class Ledger:
    account: AccountId
    symbol: Symbol
    instrument: Instrument
    entries: dict[str, tuple[int, Decimal, Decimal]] = field(default_factory=dict)  # key -> (seq, signed qty, price)
    position: Position = field(init=False)
    last_seq: int = 0

    def __post_init__(self) -> None:
        self.position = Position(self.account, self.symbol)

    def add(self, key: str, seq: int, signed_qty: Decimal, price: Decimal) -> None:
        known = key in self.entries
        self.entries[key] = (seq, signed_qty, price)
        if not known and seq > self.last_seq:  # the usual case: a new fill at the end
            self.last_seq = seq
            self.position.apply_fill(ExecId(key), signed_qty, price, self.instrument)
        else:
            self.refold()

    def remove(self, key: str) -> None:
        if self.entries.pop(key, None) is not None:
            self.refold()

    def reset(self) -> None:
        self.entries.clear()
        self.refold()

    def refold(self) -> None:
        self.position = Position(self.account, self.symbol)
        self.last_seq = 0
        for key, (seq, signed_qty, price) in sorted(self.entries.items(), key=lambda item: item[1][0]):
            self.position.apply_fill(ExecId(key), signed_qty, price, self.instrument)
            self.last_seq = seq
