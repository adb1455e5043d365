"""The staging desk, an engine extension (domain/extension.py): decides the staging commands and
folds their events, and the engine's ``OrderAccepted`` whose ClOrdID is a staged id (the
release), so its state is replay(journal) like the engine's.

States: ``staged`` (waiting) -> ``picked_up`` (a trader owns it) -> ``released`` (an order was
accepted for it: ``order_id``), or ``canceled`` from either of the first two. A release whose
order is refused (risk, kill switch) leaves it picked up, to be released again or canceled.

The release is decided where the order is accepted (``vet_new_order``, called by the engine in
the same step): a new order whose ClOrdID is an open staged id is refused unless that staged
order is picked up by the order's own user and the order carries its terms exactly, so neither
another user's order with that ClOrdID nor a release racing a withdrawal reaches the market
(a staged id stays reserved once its order is released or canceled).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..domain import commands as cmd
from ..domain import events as ev
from ..domain.accounts import ReferenceData
from ..domain.rejects import Reject, RejectCode
from ..domain.values import OrdType
from . import commands as sc
from . import events as se

STAGED, PICKED_UP, RELEASED, CANCELED = "staged", "picked_up", "released", "canceled"
OPEN = (STAGED, PICKED_UP)


@dataclass(slots=True)
class StagedOrder:
    staged: se.OrderStaged
    status: str = STAGED
    trader: str = ""  # who picked it up
    order_id: str = ""
    reason: str = ""
    updated_ts: int = 0
    last_seq: int = 0

    @property
    def staged_id(self) -> str:
        return self.staged.staged_id


class StagingDesk:
    command_types = sc.STAGING_COMMANDS

    def __init__(self, reference: ReferenceData) -> None:
        self.reference = reference
        self.orders: dict[str, StagedOrder] = {}
        self._apply: dict[type, Callable[[Any], None]] = {
            se.OrderStaged: self._staged, se.StagedOrderPickedUp: self._picked_up,
            se.StagedOrderCanceled: self._canceled, ev.OrderAccepted: self._accepted,
        }
        self._decide: dict[type, Callable[[Any, int, int], list[ev.Event] | Reject]] = {
            sc.StageOrder: self._stage, sc.PickUpStagedOrder: self._pick_up, sc.CancelStagedOrder: self._cancel,
        }

    # --- the extension's two entry points ---------------------------------------------------

    def apply(self, event: ev.Event) -> None:
        handler = self._apply.get(type(event))
        if handler is not None:
            handler(event)

    def decide(self, command: cmd.Command, now: int, next_seq: int) -> list[ev.Event]:
        result = self._decide[type(command)](command, now, next_seq)
        if isinstance(result, Reject):
            staged_id = getattr(command, "staged_id", None)
            known = self.orders.get(staged_id) if staged_id else None
            account = getattr(command, "account", None) or (known.staged.account if known else None)
            return [ev.CommandRejected(seq=next_seq, ts=now, actor=command.actor, command=type(command).__name__,
                                       order_id=None, cl_ord_id=staged_id, account=account, reason=result)]
        return result

    def vet_new_order(self, command: cmd.SubmitOrder) -> Reject | None:
        """None unless the order's ClOrdID is a staged id and the order is not its release. Staged
        ids stay reserved once released or canceled: a release decided after a withdrawal is refused."""
        order = self.orders.get(command.cl_ord_id)
        return None if order is None else self._not_release(order, command)

    @staticmethod
    def _not_release(order: StagedOrder, new: cmd.SubmitOrder | ev.OrderAccepted) -> Reject | None:
        staged_id, user = order.staged_id, new.actor.user
        if order.status != PICKED_UP or order.trader != user:
            owner = f"picked up by {order.trader}" if order.status == PICKED_UP else \
                "not picked up" if order.status == STAGED else order.status
            return Reject(RejectCode.NOT_PERMITTED,
                          f"ClOrdID {staged_id} is a staged order's id and it is {owner}: only its release by the trader "
                          "who picked it up may use it", {"staged_id": staged_id, "status": order.status, "trader": order.trader})
        staged = order.staged
        for name in ("account", "symbol", "side", "quantity", "ord_type", "price", "stop_price", "tif"):
            want, got = getattr(staged, name), getattr(new, name)
            if want != got:
                return Reject(RejectCode.INVALID_CL_ORD_ID,
                              f"ClOrdID {staged_id} is a staged order's id: its release must carry the staged {name} "
                              f"{want}, not {got}", {"staged_id": staged_id, "field": name,
                                                     "staged": str(want), "order": str(got)})
        return None

    # --- reads ----------------------------------------------------------------------------------

    def next_id(self) -> str:
        return f"STG-{len(self.orders) + 1}"

    # --- deciding -------------------------------------------------------------------------------

    def _stage(self, command: sc.StageOrder, now: int, seq: int) -> list[ev.Event] | Reject:
        reference = self.reference
        if command.account not in reference.accounts:
            return Reject(RejectCode.UNKNOWN_ACCOUNT, f"unknown account {command.account!r}", {"account": command.account})
        instrument = reference.instruments.get(command.symbol)
        if instrument is None:
            return Reject(RejectCode.UNKNOWN_INSTRUMENT, f"unknown instrument {command.symbol!r}", {"symbol": command.symbol})
        problem = instrument.check_quantity(command.quantity)
        limit = command.ord_type in (OrdType.LIMIT, OrdType.STOP_LIMIT)
        stop = command.ord_type in (OrdType.STOP, OrdType.STOP_LIMIT)
        if problem is None and limit and command.price is None:
            problem = Reject(RejectCode.INVALID_PRICE, f"a {command.ord_type.value} order needs a price")
        if problem is None and not limit and command.price is not None:
            problem = Reject(RejectCode.INVALID_PRICE, f"a {command.ord_type.value} order takes no price")
        if problem is None and command.price is not None:
            problem = instrument.check_price(command.price)
        if problem is None and stop and command.stop_price is None:
            problem = Reject(RejectCode.INVALID_PRICE, f"a {command.ord_type.value} order needs a stop price")
        if problem is None and command.stop_price is not None:
            problem = instrument.check_price(command.stop_price, "stop_price") if stop else \
                Reject(RejectCode.INVALID_PRICE, f"a {command.ord_type.value} order takes no stop price")
        if problem is not None:
            return problem
        return [se.OrderStaged(seq=seq, ts=now, actor=command.actor, staged_id=self.next_id(), account=command.account,
                               symbol=command.symbol, side=command.side, quantity=command.quantity, ord_type=command.ord_type,
                               price=command.price, stop_price=command.stop_price, tif=command.tif,
                               for_trader=command.for_trader, note=command.note)]

    def _open(self, staged_id: str) -> StagedOrder | Reject:
        order = self.orders.get(staged_id)
        if order is None:
            return Reject(RejectCode.UNKNOWN_ORDER, f"unknown staged order {staged_id!r}", {"staged_id": staged_id})
        if order.status not in OPEN:
            return Reject(RejectCode.TOO_LATE, f"staged order {staged_id} is already {order.status}",
                          {"staged_id": staged_id, "status": order.status})
        return order

    def _pick_up(self, command: sc.PickUpStagedOrder, now: int, seq: int) -> list[ev.Event] | Reject:
        order = self._open(command.staged_id)
        if isinstance(order, Reject):
            return order
        user = command.actor.user
        if order.status == PICKED_UP:
            return Reject(RejectCode.ALREADY_PENDING, f"staged order {order.staged_id} is already picked up by {order.trader}",
                          {"staged_id": order.staged_id, "trader": order.trader})
        if order.staged.for_trader and order.staged.for_trader != user:
            return Reject(RejectCode.NOT_PERMITTED, f"staged order {order.staged_id} is for {order.staged.for_trader}",
                          {"staged_id": order.staged_id, "for_trader": order.staged.for_trader})
        return [se.StagedOrderPickedUp(seq=seq, ts=now, actor=command.actor, staged_id=order.staged_id, trader=user)]

    def _cancel(self, command: sc.CancelStagedOrder, now: int, seq: int) -> list[ev.Event] | Reject:
        order = self._open(command.staged_id)
        if isinstance(order, Reject):
            return order
        return [se.StagedOrderCanceled(seq=seq, ts=now, actor=command.actor, staged_id=order.staged_id,
                                       reason=command.reason or "canceled")]

    # --- folding --------------------------------------------------------------------------------

    def _staged(self, event: se.OrderStaged) -> None:
        self.orders[event.staged_id] = StagedOrder(event, updated_ts=event.ts, last_seq=event.seq)

    def _touch(self, order: StagedOrder, event: ev.Event) -> None:
        order.updated_ts, order.last_seq = event.ts, event.seq

    def _picked_up(self, event: se.StagedOrderPickedUp) -> None:
        order = self.orders[event.staged_id]
        order.status, order.trader = PICKED_UP, event.trader
        self._touch(order, event)

    def _canceled(self, event: se.StagedOrderCanceled) -> None:
        order = self.orders[event.staged_id]
        order.status, order.reason = CANCELED, event.reason
        self._touch(order, event)

    def _accepted(self, event: ev.OrderAccepted) -> None:
        # Live, vet_new_order let only the release through; the same test here keeps a journal
        # written before that check (another user's order with the staged id) from releasing it.
        order = self.orders.get(event.cl_ord_id)
        if order is not None and order.status in OPEN and self._not_release(order, event) is None:
            order.status, order.order_id = RELEASED, event.order_id
            self._touch(order, event)
