"""Staging events (past tense, frozen), journaled by the engine like its own. None carries an
``order_id``: the order a release makes is linked by its ClOrdID, which is the staged id."""

from __future__ import annotations

from decimal import Decimal

from ..domain.events import Event
from ..domain.ids import AccountId, Symbol
from ..domain.values import OrdType, Side, TimeInForce


class OrderStaged(Event, frozen=True, kw_only=True):
    """A portfolio manager's order, waiting for a trader (``for_trader``: only that one; "" any)."""

    staged_id: str
    account: AccountId
    symbol: Symbol
    side: Side
    quantity: Decimal
    ord_type: OrdType
    price: Decimal | None
    stop_price: Decimal | None
    tif: TimeInForce
    for_trader: str = ""
    note: str = ""


class StagedOrderPickedUp(Event, frozen=True, kw_only=True):
    staged_id: str
    trader: str


class StagedOrderCanceled(Event, frozen=True, kw_only=True):
    staged_id: str
    reason: str


StagingEvent = OrderStaged | StagedOrderPickedUp | StagedOrderCanceled
STAGING_EVENTS = (OrderStaged, StagedOrderPickedUp, StagedOrderCanceled)
