"""Settlement instruction status machine and the netting of instructions."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from .events import SettlementInstruction
from .money import ZERO

PENDING, INSTRUCTED, MATCHED, SETTLED, FAILED, CANCELED = "pending", "instructed", "matched", "settled", "failed", "canceled"
STATUSES = (PENDING, INSTRUCTED, MATCHED, SETTLED, FAILED, CANCELED)
# Where each status may go next (canceled is reached only by amending or cancelling the allocation,
# or by a bust). A failed instruction may be re-instructed, or match and settle late.
TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({INSTRUCTED, FAILED}),
    INSTRUCTED: frozenset({MATCHED, FAILED}),
    MATCHED: frozenset({SETTLED, FAILED}),
    FAILED: frozenset({INSTRUCTED, MATCHED, SETTLED}),
    SETTLED: frozenset(),
    CANCELED: frozenset(),
}


@dataclass(slots=True)
class InstructionState:
    instruction: SettlementInstruction
    status: str = PENDING
    reason: str = ""
    history: list[tuple[int, str, str, str]] = field(default_factory=list)  # (ts, status, reason, user)


def signed(direction: str, quantity: Decimal) -> Decimal:
    return quantity if direction == "RVP" else -quantity


def cash_in(instruction: SettlementInstruction) -> Decimal:
    """Cash we receive (a sale) positive, cash we pay (a purchase) negative."""
    return -instruction.net_money if instruction.direction == "RVP" else instruction.net_money


def net(instruction_id: str, parts: list[SettlementInstruction]) -> SettlementInstruction:
    """One instruction for several of the same account, instrument and settlement date: quantities
    and cash add up with their signs (buys receive securities and pay cash)."""
    first = parts[0]
    quantity = sum((signed(p.direction, p.quantity) for p in parts), ZERO)
    cash = sum((cash_in(p) for p in parts), ZERO)
    value = sum((signed(p.direction, p.quantity) * p.price for p in parts), ZERO)
    direction = "RVP" if quantity > ZERO else "DVP" if quantity < ZERO else ("DVP" if cash >= ZERO else "RVP")
    def total(name: str) -> Decimal:
        return sum((getattr(p, name) for p in parts), ZERO)
    return SettlementInstruction(
        instruction_id=instruction_id,
        allocation_ids=tuple(a for p in parts for a in p.allocation_ids),
        account=first.account, symbol=first.symbol, isin=first.isin, direction=direction, quantity=abs(quantity),
        price=abs(value / quantity) if quantity else ZERO,
        gross=abs(sum((signed(p.direction, p.gross) for p in parts), ZERO)),
        commission=total("commission"), fees=total("fees"), accrued_interest=total("accrued_interest"),
        net_money=abs(cash), currency=first.currency, trade_date=max(p.trade_date for p in parts),
        settlement_date=first.settlement_date, ssi=first.ssi, netted=True,
    )
