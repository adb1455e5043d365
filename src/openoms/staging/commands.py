"""Staging commands: each names its user through ``actor`` like every command."""

from __future__ import annotations

from decimal import Decimal

from ..domain.commands import Command
from ..domain.ids import AccountId, Symbol
from ..domain.values import OrdType, Side, TimeInForce


class StageOrder(Command, frozen=True, kw_only=True):
    account: AccountId
    symbol: Symbol
    side: Side
    quantity: Decimal
    ord_type: OrdType = OrdType.LIMIT
    price: Decimal | None = None
    stop_price: Decimal | None = None
    tif: TimeInForce = TimeInForce.DAY
    for_trader: str = ""
    note: str = ""


class PickUpStagedOrder(Command, frozen=True, kw_only=True):
    staged_id: str


class CancelStagedOrder(Command, frozen=True, kw_only=True):
    staged_id: str
    reason: str = ""


STAGING_COMMANDS: tuple[type[Command], ...] = (StageOrder, PickUpStagedOrder, CancelStagedOrder)
