"""Post-trade commands (imperative, frozen): each names its user through ``actor`` like every command."""

from __future__ import annotations

from ..domain.commands import Command
from ..domain.ids import OrderId
from .events import AllocationTarget, PositionRow, Ssi


class SetFeeSchedule(Command, frozen=True, kw_only=True):
    schedule: dict[str, str]
    source: str


class SetSettlementSetup(Command, frozen=True, kw_only=True):
    ssis: list[Ssi]
    netting_accounts: list[str]
    source: str


class LoadPositions(Command, frozen=True, kw_only=True):
    as_of: str  # ISO date the positions stand at (start of that day)
    source: str
    rows: list[PositionRow]


class PlanAllocation(Command, frozen=True, kw_only=True):
    """Attach a pre-trade allocation to a block order (replaces an earlier plan)."""

    block_order: OrderId
    method: str  # quantity | weight
    targets: list[AllocationTarget]


class AllocateBlock(Command, frozen=True, kw_only=True):
    """Allocate the filled quantity of one or more orders (same instrument and side) to accounts.
    No targets: the first order's plan is used."""

    orders: list[OrderId]
    method: str = ""
    targets: list[AllocationTarget] = []


class AmendAllocation(Command, frozen=True, kw_only=True):
    allocation_id: str
    method: str
    targets: list[AllocationTarget]
    reason: str = ""


class CancelAllocation(Command, frozen=True, kw_only=True):
    allocation_id: str
    reason: str


class AcknowledgeAllocation(Command, frozen=True, kw_only=True):
    allocation_id: str
    status: str
    reason: str = ""


class InstructSettlement(Command, frozen=True, kw_only=True):
    """Create settlement instructions for these allocations (empty: every booked, uninstructed one)."""

    allocation_ids: list[str] = []


class UpdateSettlementStatus(Command, frozen=True, kw_only=True):
    instruction_id: str
    status: str
    reason: str = ""
    source: str = ""


POST_TRADE_COMMANDS: tuple[type[Command], ...] = (
    SetFeeSchedule, SetSettlementSetup, LoadPositions, PlanAllocation, AllocateBlock, AmendAllocation, CancelAllocation,
    AcknowledgeAllocation, InstructSettlement, UpdateSettlementStatus,
)
