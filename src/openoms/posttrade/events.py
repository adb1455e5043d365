"""Post-trade events (past tense, frozen), journaled by the engine like its own.

None of them has an ``order_id`` field: the engine and the audit index treat an event with one as
part of an order's lifecycle. Allocations name their block orders in ``orders``.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from ..domain.events import Event
from ..domain.ids import AccountId, ExecId, OrderId, Symbol
from ..domain.values import Side


class PositionRow(msgspec.Struct, frozen=True, gc=False):
    account: AccountId
    symbol: Symbol
    quantity: Decimal  # signed: long > 0
    avg_price: Decimal


class Ssi(msgspec.Struct, frozen=True, gc=False):
    """A standing settlement instruction: where an account settles in one market (``*``: any)."""

    account: AccountId
    market: str
    depository: str  # e.g. DTCYUS33 (DTC), FRNYUS33 (Fedwire securities), ECLEBEBB (Euroclear)
    agent_bic: str  # the custodian / settlement agent
    safekeeping_account: str
    cash_account: str = ""


class AllocationTarget(msgspec.Struct, frozen=True, gc=False):
    """One account of an allocation request: a quantity (pro-rata by quantity) or a weight."""

    account: AccountId
    quantity: Decimal | None = None
    weight: Decimal | None = None


class AllocationLine(msgspec.Struct, frozen=True, gc=False):
    account: AccountId
    quantity: Decimal
    price: Decimal  # the block's average price
    gross: Decimal  # cash value in the instrument's currency, to the cent; the lines add up to the block's
    commission: Decimal
    fees: Decimal  # the line's share of the executions' fees; the lines add up to the block's


class SettlementInstruction(msgspec.Struct, frozen=True, gc=False):
    instruction_id: str
    allocation_ids: tuple[str, ...]
    account: AccountId
    symbol: Symbol
    isin: str
    direction: str  # RVP (we receive securities against payment: a buy) or DVP (we deliver: a sale)
    quantity: Decimal  # positive; face value for bonds
    price: Decimal
    gross: Decimal
    commission: Decimal
    fees: Decimal
    accrued_interest: Decimal
    net_money: Decimal  # what moves in cash, positive
    currency: str
    trade_date: str
    settlement_date: str
    ssi: Ssi
    netted: bool = False


class FeeScheduleSet(Event, frozen=True, kw_only=True):
    """The commission and fee schedule in force from now on (as text), and where it came from."""

    schedule: dict[str, str]
    source: str


class SettlementSetupSet(Event, frozen=True, kw_only=True):
    """Standing settlement instructions and the accounts whose instructions are netted."""

    ssis: list[Ssi]
    netting_accounts: list[str]
    source: str


class PositionsLoaded(Event, frozen=True, kw_only=True):
    """Start-of-day positions: each (account, instrument) listed restarts at the loaded quantity and price."""

    as_of: str
    source: str
    rows: list[PositionRow]


class AllocationPlanned(Event, frozen=True, kw_only=True):
    """A pre-trade allocation carried by a block order, used when the order is allocated."""

    block_order: OrderId
    method: str
    targets: list[AllocationTarget]


class AllocationBooked(Event, frozen=True, kw_only=True):
    """A block allocated to accounts (version 1) or an amendment (version > 1) replacing the lines."""

    allocation_id: str
    version: int
    orders: list[OrderId]
    exec_ids: list[ExecId]
    symbol: Symbol
    side: Side
    method: str
    trade_date: str
    quantity: Decimal
    avg_price: Decimal
    gross: Decimal
    fees: Decimal
    lines: list[AllocationLine]
    targets: list[AllocationTarget]
    reason: str = ""


class AllocationCanceled(Event, frozen=True, kw_only=True):
    allocation_id: str
    reason: str


class AllocationAcknowledged(Event, frozen=True, kw_only=True):
    """The broker's answer to the allocation (FIX AllocationInstructionAck): accepted or rejected."""

    allocation_id: str
    status: str  # received | accepted | rejected
    reason: str


class SettlementInstructed(Event, frozen=True, kw_only=True):
    """Settlement instructions created (status pending) for booked allocations."""

    instructions: list[SettlementInstruction]


class SettlementStatusChanged(Event, frozen=True, kw_only=True):
    instruction_id: str
    status: str
    previous: str
    reason: str
    source: str = ""


PostTradeEvent = (
    FeeScheduleSet | SettlementSetupSet | PositionsLoaded | AllocationPlanned | AllocationBooked | AllocationCanceled
    | AllocationAcknowledged | SettlementInstructed | SettlementStatusChanged
)
