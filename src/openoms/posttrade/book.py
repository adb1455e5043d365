"""PostTradeBook: the post-trade state, an engine extension (see domain/extension.py).

``apply`` folds the engine's fills, busts and corrections into trades and positions, and this
package's own events into allocations and settlement instructions; ``decide`` validates a
post-trade command and returns its events (the engine applies and journals them). Like the
engine: no I/O, no clock; state == replay(journal).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from ..domain import commands as cmd
from ..domain import events as ev
from ..domain.accounts import ReferenceData
from ..domain.engine import NS_PER_DAY, trade_date_of
from ..domain.ids import AccountId, ExecId, OrderId, Symbol, VenueId
from ..domain.instruments import Instrument
from ..domain.lifecycle import TERMINAL, OrdStatus
from ..domain.order import Order
from ..domain.rejects import Reject, RejectCode
from ..domain.values import Liquidity, Side
from . import commands as pc
from . import events as pe
from .accrued import AccruedError, accrued_interest
from .allocation import allocate, bad, check_targets
from .calendars import Calendars, market_of
from .fees import FeeSchedule, FeeScheduleError
from .ledger import Ledger
from .money import ZERO, cents
from .settlement import CANCELED, FAILED, PENDING, SETTLED, STATUSES, TRANSITIONS, InstructionState, net

BOOKED, ALLOC_CANCELED, INVALIDATED = "booked", "canceled", "invalidated"


@dataclass(slots=True)
class Trade:
    """One execution booked: what it was, where, and what it cost."""

    exec_id: ExecId
    order_id: OrderId
    account: AccountId
    symbol: Symbol
    side: Side
    quantity: Decimal
    price: Decimal
    venue: VenueId
    liquidity: Liquidity
    ts: int
    trade_date: str
    seq: int
    gross: Decimal
    commission: Decimal
    fees: Decimal
    status: str = "active"  # active | busted | corrected (active with the corrected quantity/price)


@dataclass(slots=True)
class Allocation:
    booked: pe.AllocationBooked
    user: str
    status: str = BOOKED
    reason: str = ""
    ack: str = ""  # the broker's answer: received | accepted | rejected
    ack_reason: str = ""
    history: list[tuple[int, str, str, str]] = field(default_factory=list)  # (ts, what, user, reason)


class PostTradeBook:
    command_types = pc.POST_TRADE_COMMANDS

    def __init__(self, reference: ReferenceData, orders: Mapping[OrderId, Order], calendars: Calendars | None = None) -> None:
        self.reference = reference
        self.orders = orders  # the engine's orders (read only)
        self.calendars = calendars or Calendars()
        self.fee_schedule = FeeSchedule()
        self.fee_source = ""
        self.ssis: dict[tuple[str, str], pe.Ssi] = {}
        self.netting: frozenset[str] = frozenset()
        self.trades: dict[ExecId, Trade] = {}
        self.trades_by_order: dict[OrderId, list[ExecId]] = {}
        self.ledgers: dict[tuple[AccountId, Symbol], Ledger] = {}
        self.plans: dict[OrderId, pe.AllocationPlanned] = {}
        self.allocations: dict[str, Allocation] = {}
        self.allocated: dict[ExecId, str] = {}  # exec -> the booked allocation that moved it
        self.instructions: dict[str, InstructionState] = {}
        self.instructions_of: dict[str, list[str]] = {}  # allocation -> its instructions
        self.loads: list[pe.PositionsLoaded] = []
        self._apply: dict[type, Callable[[Any], None]] = {
            ev.OrderFilled: self._filled, ev.TradeBusted: self._busted, ev.TradeCorrected: self._corrected,
            pe.FeeScheduleSet: self._fee_schedule_set, pe.SettlementSetupSet: self._setup_set,
            pe.PositionsLoaded: self._positions_loaded, pe.AllocationPlanned: self._planned,
            pe.AllocationBooked: self._booked, pe.AllocationCanceled: self._canceled,
            pe.AllocationAcknowledged: self._acknowledged, pe.SettlementInstructed: self._instructed,
            pe.SettlementStatusChanged: self._status_changed,
        }
        self._decide: dict[type, Callable[[Any], list[ev.Event] | Reject]] = {
            pc.SetFeeSchedule: self._set_fee_schedule, pc.SetSettlementSetup: self._set_setup,
            pc.LoadPositions: self._load_positions, pc.PlanAllocation: self._plan, pc.AllocateBlock: self._allocate,
            pc.AmendAllocation: self._amend, pc.CancelAllocation: self._cancel, pc.AcknowledgeAllocation: self._acknowledge,
            pc.InstructSettlement: self._instruct, pc.UpdateSettlementStatus: self._update_status,
        }
        self._now = 0
        self._seq = 0
        self._actor = cmd.Actor("engine", "engine")
        self._day: tuple[int, int, str] = (0, 0, "")  # [start, end) ns of the cached trade date

    def _trade_date(self, ts: int) -> str:
        start, end, day = self._day
        if not start <= ts < end:
            start = ts - ts % NS_PER_DAY
            day = trade_date_of(ts)
            self._day = (start, start + NS_PER_DAY, day)
        return day

    # --- the extension's two entry points ---------------------------------------------------

    def apply(self, event: ev.Event) -> None:
        handler = self._apply.get(type(event))
        if handler is not None:
            handler(event)

    def decide(self, command: cmd.Command, now: int, next_seq: int) -> list[ev.Event]:
        """The events of a post-trade command, numbered from ``next_seq``; a refusal is one CommandRejected."""
        self._now, self._seq, self._actor = now, next_seq, command.actor
        name = type(command).__name__
        result = self._decide[type(command)](command)
        if isinstance(result, Reject):
            return [ev.CommandRejected(seq=next_seq, ts=now, actor=command.actor, command=name, order_id=None,
                                       cl_ord_id=None, account=None, reason=result)]
        return result

    # --- reads ------------------------------------------------------------------------------

    def position_ledgers(self) -> list[Ledger]:
        return [self.ledgers[key] for key in sorted(self.ledgers)]

    def live_instructions(self, allocation_id: str) -> list[InstructionState]:
        return [self.instructions[i] for i in self.instructions_of.get(allocation_id, ()) if self.instructions[i].status != CANCELED]

    # --- folding engine events ----------------------------------------------------------------

    def _ledger(self, account: AccountId, symbol: Symbol) -> Ledger:
        ledger = self.ledgers.get((account, symbol))
        if ledger is None:
            ledger = self.ledgers[(account, symbol)] = Ledger(account, symbol, self.reference.instruments[symbol])
        return ledger

    def _filled(self, event: ev.OrderFilled) -> None:
        order = self.orders[event.order_id]
        instrument = self.reference.instruments[order.symbol]
        route = order.routes.get(event.route_id)
        venue = route.venue if route is not None else VenueId("")
        gross = instrument.notional(event.last_qty, event.last_px)
        is_buy = order.side.is_buy
        trade = Trade(
            event.exec_id, order.order_id, order.account, order.symbol, order.side, event.last_qty, event.last_px, venue,
            event.liquidity, event.ts, self._trade_date(event.ts), event.seq, gross,
            self.fee_schedule.commission(order.account, instrument, event.last_qty, gross, is_buy, minimum=False),
            self.fee_schedule.execution_fees(venue, event.liquidity, instrument, event.last_qty, gross, is_buy),
        )
        self.trades[event.exec_id] = trade
        self.trades_by_order.setdefault(order.order_id, []).append(event.exec_id)
        self._ledger(order.account, order.symbol).add(event.exec_id, event.seq, event.last_qty * order.side.sign, event.last_px)

    def _busted(self, event: ev.TradeBusted) -> None:
        trade = self.trades.get(event.exec_id)
        if trade is None:
            return
        self._invalidate_allocation_of(trade.exec_id, event, "trade busted")
        trade.status = "busted"
        self._ledger(trade.account, trade.symbol).remove(trade.exec_id)

    def _corrected(self, event: ev.TradeCorrected) -> None:
        trade = self.trades.get(event.exec_id)
        if trade is None:
            return
        self._invalidate_allocation_of(trade.exec_id, event, "trade corrected")
        instrument = self.reference.instruments[trade.symbol]
        trade.quantity, trade.price, trade.status = event.last_qty, event.last_px, "corrected"
        trade.gross = instrument.notional(event.last_qty, event.last_px)
        is_buy = trade.side.is_buy
        trade.commission = self.fee_schedule.commission(trade.account, instrument, trade.quantity, trade.gross, is_buy, minimum=False)
        trade.fees = self.fee_schedule.execution_fees(trade.venue, trade.liquidity, instrument, trade.quantity, trade.gross, is_buy)
        self._ledger(trade.account, trade.symbol).add(trade.exec_id, trade.seq, event.last_qty * trade.side.sign, event.last_px)

    def _invalidate_allocation_of(self, exec_id: ExecId, event: ev.Event, why: str) -> None:
        """A bust or correction of an allocated execution takes the allocation back: its lines leave
        the accounts, the executions return to the block's account, its instructions are canceled
        (it must be allocated again)."""
        allocation_id = self.allocated.get(exec_id)
        if allocation_id is None:
            return
        allocation = self.allocations[allocation_id]
        self._undo(allocation, event, why, restore=True)
        allocation.status, allocation.reason = INVALIDATED, why
        allocation.history.append((event.ts, INVALIDATED, event.actor.user, why))

    def _undo(self, allocation: Allocation, event: ev.Event, why: str, restore: bool) -> None:
        booked = allocation.booked
        for line in booked.lines:
            self._ledger(line.account, booked.symbol).remove(booked.allocation_id)
        if restore:
            for exec_id in booked.exec_ids:
                self.allocated.pop(exec_id, None)
                trade = self.trades[exec_id]
                if trade.status != "busted":
                    self._ledger(trade.account, trade.symbol).add(exec_id, trade.seq, trade.quantity * trade.side.sign, trade.price)
        for state in self.live_instructions(booked.allocation_id):
            if state.status != SETTLED:
                state.history.append((event.ts, CANCELED, event.actor.user, why))
                state.status, state.reason = CANCELED, why

    # --- folding post-trade events ---------------------------------------------------------------

    def _fee_schedule_set(self, event: pe.FeeScheduleSet) -> None:
        self.fee_schedule = FeeSchedule(event.schedule)
        self.fee_source = event.source

    def _setup_set(self, event: pe.SettlementSetupSet) -> None:
        self.ssis = {(ssi.account, ssi.market): ssi for ssi in event.ssis}
        self.netting = frozenset(event.netting_accounts)

    def _positions_loaded(self, event: pe.PositionsLoaded) -> None:
        self.loads.append(event)
        for row in event.rows:
            ledger = self._ledger(row.account, row.symbol)
            ledger.reset()
            if row.quantity:
                ledger.add(f"SOD:{event.as_of}", event.seq, row.quantity, row.avg_price)

    def _planned(self, event: pe.AllocationPlanned) -> None:
        self.plans[event.block_order] = event

    def _booked(self, event: pe.AllocationBooked) -> None:
        previous = self.allocations.get(event.allocation_id)
        if previous is not None:  # an amendment: the old lines go, the executions stay allocated
            self._undo(previous, event, "allocation amended", restore=False)
            previous.booked = event
            previous.history.append((event.ts, "amended", event.actor.user, event.reason))
            allocation = previous
        else:
            allocation = self.allocations[event.allocation_id] = Allocation(event, event.actor.user)
            allocation.history.append((event.ts, BOOKED, event.actor.user, event.reason))
            for exec_id in event.exec_ids:
                self.allocated[exec_id] = event.allocation_id
                trade = self.trades[exec_id]
                self._ledger(trade.account, trade.symbol).remove(exec_id)
        sign = 1 if event.side.is_buy else -1
        for line in event.lines:
            self._ledger(line.account, event.symbol).add(event.allocation_id, event.seq, line.quantity * sign, line.price)

    def _canceled(self, event: pe.AllocationCanceled) -> None:
        allocation = self.allocations[event.allocation_id]
        self._undo(allocation, event, "allocation canceled", restore=True)
        allocation.status, allocation.reason = ALLOC_CANCELED, event.reason
        allocation.history.append((event.ts, ALLOC_CANCELED, event.actor.user, event.reason))

    def _acknowledged(self, event: pe.AllocationAcknowledged) -> None:
        allocation = self.allocations[event.allocation_id]
        allocation.ack, allocation.ack_reason = event.status, event.reason
        allocation.history.append((event.ts, f"ack {event.status}", event.actor.user, event.reason))

    def _instructed(self, event: pe.SettlementInstructed) -> None:
        for instruction in event.instructions:
            state = InstructionState(instruction)
            state.history.append((event.ts, PENDING, event.actor.user, ""))
            self.instructions[instruction.instruction_id] = state
            for allocation_id in instruction.allocation_ids:
                self.instructions_of.setdefault(allocation_id, []).append(instruction.instruction_id)

    def _status_changed(self, event: pe.SettlementStatusChanged) -> None:
        state = self.instructions[event.instruction_id]
        state.status, state.reason = event.status, event.reason
        state.history.append((event.ts, event.status, event.actor.user, event.reason))

    # --- deciding commands ------------------------------------------------------------------------

    def _next(self) -> int:
        seq = self._seq
        self._seq += 1
        return seq

    def _operations(self, name: str) -> Reject | None:
        user = self._actor.user
        if user == "system" or self.reference.has_role(user, "operations"):
            return None
        return Reject(RejectCode.NOT_PERMITTED, f"{name} needs the operations role; {user!r} does not have it",
                      {"user": user, "role": "operations"})

    def _set_fee_schedule(self, command: pc.SetFeeSchedule) -> list[ev.Event] | Reject:
        refused = self._operations("SetFeeSchedule")
        if refused is not None:
            return refused
        try:
            schedule = FeeSchedule(command.schedule)
        except FeeScheduleError as exc:
            return Reject(RejectCode.INVALID_FEE_SCHEDULE, str(exc))
        if schedule.text == self.fee_schedule.text:
            return []
        return [pe.FeeScheduleSet(seq=self._next(), ts=self._now, actor=self._actor, schedule=schedule.text, source=command.source)]

    def _set_setup(self, command: pc.SetSettlementSetup) -> list[ev.Event] | Reject:
        refused = self._operations("SetSettlementSetup")
        if refused is not None:
            return refused
        seen = set()
        for ssi in command.ssis:
            if ssi.account not in self.reference.accounts:
                return Reject(RejectCode.UNKNOWN_ACCOUNT, f"unknown account {ssi.account!r} in a standing settlement instruction",
                              {"account": ssi.account})
            if (ssi.account, ssi.market) in seen:
                return Reject(RejectCode.INVALID_SETTLEMENT, f"two standing instructions for {ssi.account} in market {ssi.market}")
            if not (ssi.depository and ssi.agent_bic and ssi.safekeeping_account):
                return Reject(RejectCode.INVALID_SETTLEMENT, f"the instruction for {ssi.account} in {ssi.market} needs a "
                              "depository, an agent BIC and a safekeeping account")
            seen.add((ssi.account, ssi.market))
        for account in command.netting_accounts:
            if account not in self.reference.accounts:
                return Reject(RejectCode.UNKNOWN_ACCOUNT, f"unknown netting account {account!r}", {"account": account})
        ssis = sorted(command.ssis, key=lambda s: (s.account, s.market))
        netting = sorted(set(command.netting_accounts))
        if {(s.account, s.market): s for s in ssis} == self.ssis and frozenset(netting) == self.netting:
            return []
        return [pe.SettlementSetupSet(seq=self._next(), ts=self._now, actor=self._actor, ssis=ssis,
                                      netting_accounts=netting, source=command.source)]

    def _load_positions(self, command: pc.LoadPositions) -> list[ev.Event] | Reject:
        refused = self._operations("LoadPositions")
        if refused is not None:
            return refused
        try:
            date.fromisoformat(command.as_of)
        except ValueError:
            return Reject(RejectCode.INVALID_POSITIONS, f"as_of must be an ISO date, got {command.as_of!r}")
        seen = set()
        for number, row in enumerate(command.rows, 1):
            where = f"position {number} ({row.account} {row.symbol})"
            if row.account not in self.reference.accounts:
                return Reject(RejectCode.UNKNOWN_ACCOUNT, f"{where}: unknown account", {"account": row.account})
            if row.symbol not in self.reference.instruments:
                return Reject(RejectCode.UNKNOWN_INSTRUMENT, f"{where}: unknown instrument", {"symbol": row.symbol})
            if not row.quantity.is_finite() or not row.avg_price.is_finite() or row.avg_price < ZERO:
                return Reject(RejectCode.INVALID_POSITIONS, f"{where}: quantity and a non-negative average price must be numbers")
            if (row.account, row.symbol) in seen:
                return Reject(RejectCode.INVALID_POSITIONS, f"{where} is listed twice")
            seen.add((row.account, row.symbol))
        return [pe.PositionsLoaded(seq=self._next(), ts=self._now, actor=self._actor, as_of=command.as_of,
                                   source=command.source, rows=list(command.rows))]

    def _order_checks(self, order_ids: list[OrderId], planning: bool = False) -> list[Order] | Reject:
        if not order_ids:
            return bad("an allocation names at least one block order")
        orders = []
        for order_id in order_ids:
            order = self.orders.get(order_id)
            if order is None:
                return Reject(RejectCode.UNKNOWN_ORDER, f"unknown order {order_id!r}", {"order_id": order_id})
            user = self._actor.user
            if user not in ("system", order.trader) and not self.reference.has_role(user, "operations"):
                return Reject(RejectCode.NOT_PERMITTED, f"{user!r} may not allocate order {order_id}: it is {order.trader}'s "
                              "and the operations role is needed for others' orders", {"user": user, "order_id": order_id})
            if not planning and order.working not in TERMINAL and order.working is not OrdStatus.DONE_FOR_DAY:
                return bad(f"order {order_id} is still working ({order.working.value}): allocate it once it is done",
                           order_id=order_id)
            orders.append(order)
        first = orders[0]
        if len(set(order_ids)) != len(order_ids):
            return bad("an order is named twice")
        for order in orders[1:]:
            if order.symbol != first.symbol or order.side.is_buy != first.side.is_buy:
                return bad("the orders of one allocation must be in the same instrument and on the same side",
                           order_id=order.order_id)
        return orders

    def _plan(self, command: pc.PlanAllocation) -> list[ev.Event] | Reject:
        orders = self._order_checks([command.block_order], planning=True)
        if isinstance(orders, Reject):
            return orders
        order = orders[0]
        reason = check_targets(command.method, command.targets, self.reference, self.reference.instruments[order.symbol],
                               order.quantity)
        if reason is not None:
            return reason
        return [pe.AllocationPlanned(seq=self._next(), ts=self._now, actor=self._actor, block_order=order.order_id,
                                     method=command.method, targets=list(command.targets))]

    def _lines(self, orders: list[Order], method: str, targets: list[pe.AllocationTarget], exec_ids: list[ExecId]
               ) -> tuple[list[pe.AllocationLine], Decimal] | Reject:
        instrument = self.reference.instruments[orders[0].symbol]
        reason = check_targets(method, targets, self.reference, instrument, sum((o.quantity for o in orders), ZERO))
        if reason is not None:
            return reason
        trades = [self.trades[e] for e in exec_ids]
        fees = sum((t.fees for t in trades), ZERO)
        lines = allocate(method, targets, [(t.quantity, t.price) for t in trades], fees, instrument, self.fee_schedule,
                         orders[0].side.is_buy)
        return lines if isinstance(lines, Reject) else (lines, fees)

    def _allocate(self, command: pc.AllocateBlock) -> list[ev.Event] | Reject:
        orders = self._order_checks(command.orders)
        if isinstance(orders, Reject):
            return orders
        method, targets = command.method, list(command.targets)
        if not targets:
            plan = self.plans.get(orders[0].order_id)
            if plan is None:
                return bad(f"no accounts given and order {orders[0].order_id} carries no pre-trade allocation")
            method, targets = plan.method, list(plan.targets)
        exec_ids = [e for o in orders for e in self.trades_by_order.get(o.order_id, ())
                    if self.trades[e].status != "busted" and e not in self.allocated]
        if not exec_ids:
            return bad("nothing filled is left to allocate on these orders")
        result = self._lines(orders, method, targets, exec_ids)
        if isinstance(result, Reject):
            return result
        lines, fees = result
        trades = [self.trades[e] for e in exec_ids]
        quantity = sum((t.quantity for t in trades), ZERO)
        allocation_id = f"AL{len(self.allocations) + 1}"
        return [pe.AllocationBooked(
            seq=self._next(), ts=self._now, actor=self._actor, allocation_id=allocation_id, version=1,
            orders=[o.order_id for o in orders], exec_ids=exec_ids, symbol=orders[0].symbol, side=orders[0].side,
            method=method, trade_date=max(t.trade_date for t in trades), quantity=quantity, avg_price=lines[0].price,
            gross=sum((line.gross for line in lines), ZERO), fees=fees, lines=lines, targets=targets,
        )]

    def _changeable(self, allocation_id: str, name: str) -> Allocation | Reject:
        allocation = self.allocations.get(allocation_id)
        if allocation is None:
            return Reject(RejectCode.UNKNOWN_ALLOCATION, f"unknown allocation {allocation_id!r}", {"allocation_id": allocation_id})
        if allocation.status != BOOKED:
            return bad(f"allocation {allocation_id} is {allocation.status}; it can no longer change", allocation_id=allocation_id)
        sent = [s.instruction.instruction_id for s in self.live_instructions(allocation_id) if s.status != PENDING]
        if sent:
            return bad(f"allocation {allocation_id} cannot change: settlement instruction {sent[0]} has gone out",
                       allocation_id=allocation_id, instruction_id=sent[0])
        orders = self._order_checks(allocation.booked.orders)
        return orders if isinstance(orders, Reject) else allocation

    def _amend(self, command: pc.AmendAllocation) -> list[ev.Event] | Reject:
        allocation = self._changeable(command.allocation_id, "AmendAllocation")
        if isinstance(allocation, Reject):
            return allocation
        booked = allocation.booked
        orders = [self.orders[o] for o in booked.orders]
        result = self._lines(orders, command.method, list(command.targets), booked.exec_ids)
        if isinstance(result, Reject):
            return result
        lines, _ = result
        return [pe.AllocationBooked(
            seq=self._next(), ts=self._now, actor=self._actor, allocation_id=booked.allocation_id, version=booked.version + 1,
            orders=booked.orders, exec_ids=booked.exec_ids, symbol=booked.symbol, side=booked.side, method=command.method,
            trade_date=booked.trade_date, quantity=booked.quantity, avg_price=lines[0].price,
            gross=sum((line.gross for line in lines), ZERO), fees=booked.fees, lines=lines, targets=list(command.targets),
            reason=command.reason,
        )]

    def _cancel(self, command: pc.CancelAllocation) -> list[ev.Event] | Reject:
        allocation = self._changeable(command.allocation_id, "CancelAllocation")
        if isinstance(allocation, Reject):
            return allocation
        return [pe.AllocationCanceled(seq=self._next(), ts=self._now, actor=self._actor, allocation_id=command.allocation_id,
                                      reason=command.reason)]

    def _acknowledge(self, command: pc.AcknowledgeAllocation) -> list[ev.Event] | Reject:
        refused = self._operations("AcknowledgeAllocation")
        if refused is not None:
            return refused
        if command.allocation_id not in self.allocations:
            return Reject(RejectCode.UNKNOWN_ALLOCATION, f"unknown allocation {command.allocation_id!r}")
        if command.status not in ("received", "accepted", "rejected"):
            return bad(f"an allocation acknowledgement is received, accepted or rejected, got {command.status!r}")
        if command.status == "rejected" and not command.reason.strip():
            return bad("a rejected allocation needs the broker's reason")
        return [pe.AllocationAcknowledged(seq=self._next(), ts=self._now, actor=self._actor, allocation_id=command.allocation_id,
                                          status=command.status, reason=command.reason)]

    def _instruct(self, command: pc.InstructSettlement) -> list[ev.Event] | Reject:
        refused = self._operations("InstructSettlement")
        if refused is not None:
            return refused
        if command.allocation_ids:
            chosen = []
            for allocation_id in command.allocation_ids:
                allocation = self.allocations.get(allocation_id)
                if allocation is None:
                    return Reject(RejectCode.UNKNOWN_ALLOCATION, f"unknown allocation {allocation_id!r}")
                if allocation.status != BOOKED:
                    return Reject(RejectCode.INVALID_SETTLEMENT, f"allocation {allocation_id} is {allocation.status}")
                if self.live_instructions(allocation_id):
                    return Reject(RejectCode.INVALID_SETTLEMENT, f"allocation {allocation_id} already has settlement instructions")
                chosen.append(allocation)
        else:
            chosen = [a for a in self.allocations.values() if a.status == BOOKED and not self.live_instructions(a.booked.allocation_id)]
        singles: list[pe.SettlementInstruction] = []
        count = len(self.instructions)
        for allocation in chosen:
            for line in allocation.booked.lines:
                made = self._instruction(allocation.booked, line, f"SI{count + len(singles) + 1}")
                if isinstance(made, Reject):
                    return made
                singles.append(made)
        if not singles:
            return []
        grouped: dict[tuple[str, str, str], list[pe.SettlementInstruction]] = {}
        out: list[pe.SettlementInstruction] = []
        for single in singles:
            if single.account in self.netting:
                grouped.setdefault((single.account, single.symbol, single.settlement_date), []).append(single)
            else:
                out.append(single)
        for parts in grouped.values():
            out.append(parts[0] if len(parts) == 1 else net(parts[0].instruction_id, parts))
        out.sort(key=lambda i: int(i.instruction_id[2:]))
        renumbered = [msgspec_replace(i, f"SI{count + n}") for n, i in enumerate(out, 1)]
        return [pe.SettlementInstructed(seq=self._next(), ts=self._now, actor=self._actor, instructions=renumbered)]

    def _instruction(self, booked: pe.AllocationBooked, line: pe.AllocationLine, instruction_id: str
                     ) -> pe.SettlementInstruction | Reject:
        instrument: Instrument = self.reference.instruments[booked.symbol]
        market = market_of(instrument)
        ssi = self.ssis.get((line.account, market)) or self.ssis.get((line.account, "*"))
        if ssi is None:
            return Reject(RejectCode.INVALID_SETTLEMENT, f"no standing settlement instruction for {line.account} in market {market}",
                          {"account": line.account, "market": market})
        settle = self.calendars.settlement_date(instrument, date.fromisoformat(booked.trade_date))
        if settle is None:
            return Reject(RejectCode.INVALID_SETTLEMENT, f"no settlement calendar for {instrument.asset_class.value} in {instrument.currency}")
        accrued = ZERO
        if instrument.quotation.value == "percent_of_par":
            try:
                accrued = cents(accrued_interest(instrument, line.quantity, settle))
            except (AccruedError, InvalidOperation) as exc:
                return Reject(RejectCode.INVALID_SETTLEMENT, str(exc))
        is_buy = booked.side.is_buy
        costs = line.commission + line.fees
        net_money = line.gross + costs + accrued if is_buy else line.gross - costs + accrued
        return pe.SettlementInstruction(
            instruction_id=instruction_id, allocation_ids=(booked.allocation_id,), account=line.account, symbol=booked.symbol,
            isin=instrument.extra.get("isin", ""), direction="RVP" if is_buy else "DVP", quantity=line.quantity,
            price=line.price, gross=line.gross, commission=line.commission, fees=line.fees, accrued_interest=accrued,
            net_money=net_money, currency=instrument.currency, trade_date=booked.trade_date, settlement_date=settle.isoformat(),
            ssi=ssi,
        )

    def _update_status(self, command: pc.UpdateSettlementStatus) -> list[ev.Event] | Reject:
        refused = self._operations("UpdateSettlementStatus")
        if refused is not None:
            return refused
        state = self.instructions.get(command.instruction_id)
        if state is None:
            return Reject(RejectCode.INVALID_SETTLEMENT, f"unknown settlement instruction {command.instruction_id!r}",
                          {"instruction_id": command.instruction_id})
        if command.status not in STATUSES:
            return Reject(RejectCode.INVALID_SETTLEMENT, f"status must be one of {', '.join(STATUSES)}, got {command.status!r}")
        if command.status not in TRANSITIONS[state.status]:
            return Reject(RejectCode.INVALID_SETTLEMENT, f"instruction {command.instruction_id} is {state.status}; it cannot become "
                          f"{command.status}", {"status": state.status, "requested": command.status})
        if command.status == FAILED and not command.reason.strip():
            return Reject(RejectCode.INVALID_SETTLEMENT, "a failed settlement needs its reason")
        return [pe.SettlementStatusChanged(seq=self._next(), ts=self._now, actor=self._actor, instruction_id=command.instruction_id,
                                           status=command.status, previous=state.status, reason=command.reason, source=command.source)]


def msgspec_replace(instruction: pe.SettlementInstruction, instruction_id: str) -> pe.SettlementInstruction:
    return msgspec.structs.replace(instruction, instruction_id=instruction_id)
