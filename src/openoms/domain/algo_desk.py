"""Execution algorithms inside the engine: a parent sends child orders through the engine's own
order path (``OrderEngine._submit``), so every child meets the same validation, kill switches,
pre-trade risk and routing as any order. Part of the single writer: it runs only inside
``OrderEngine.handle`` and emits through the engine, so replay (``OrderEngine.apply``, which
folds the Algo* events) rebuilds every parent.

The schedules themselves (how much is due by when) are pure functions in ``algos.py``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from . import commands as cmd
from . import events as ev
from .algos import AlgoKind, AlgoParams, AlgoParent, AlgoStatus, lots, params_text, validate
from .ids import ClientOrderId, TraderId
from .lifecycle import TERMINAL, OrdStatus
from .rejects import Reject, RejectCode
from .values import ZERO, OrdType

if TYPE_CHECKING:
    from .engine import OrderEngine


class AlgoDesk:
    """The engine's execution-algorithm commands; state (``algos``, ``active_algos``) stays on the engine."""

    def __init__(self, engine: OrderEngine) -> None:
        self.engine = engine


    def start(self, command: cmd.StartAlgo) -> None:
        try:
            kind = AlgoKind(command.kind)
        except ValueError:
            self.engine._reject("StartAlgo", Reject(RejectCode.INVALID_ALGO, f"kind must be one of {', '.join(k.value for k in AlgoKind)}, "
                                             f"got {command.kind!r}", {"kind": command.kind}), account=command.account)
            return
        shape = cmd.SubmitOrder(actor=command.actor, account=command.account, cl_ord_id=ClientOrderId(command.cl_ord_id),
                                symbol=command.symbol, side=command.side, quantity=command.quantity,
                                ord_type=OrdType.LIMIT if command.limit_price is not None else OrdType.MARKET,
                                price=command.limit_price, route=command.route)
        reason = self.engine._validate_submit(shape)
        if reason is None and any(a.account == command.account and a.cl_ord_id == command.cl_ord_id for a in self.engine.algos.values()):
            reason = Reject(RejectCode.DUPLICATE_CL_ORD_ID, f"cl_ord_id {command.cl_ord_id!r} already names an algorithm",
                            {"cl_ord_id": command.cl_ord_id})
        instrument = self.engine.reference.instruments.get(command.symbol)
        params = AlgoParams(kind, command.quantity, command.limit_price, command.start_at or self.engine._now, command.end_at,
                            command.interval_s, command.participation_pct, command.min_participation_pct,
                            command.max_participation_pct, command.display_qty, command.profile)
        if reason is None and instrument is not None:
            reason = validate(params, instrument.lot_size, self.engine._now)
        if reason is None and self.engine.kill_switches:
            reason = self.engine.risk_controls.kill_switch_refusal(command.account, TraderId(command.actor.user), command.symbol,
                                                                   command.side, command.quantity)
        if reason is None and self.engine.gate is not None and instrument is not None:
            # The parent as a whole is judged too (quantity, notional, permissions); each child again when sent.
            venue = instrument.venues[0] if instrument.venues else self.engine.default_venue
            reason = self.engine.gate.check(self.engine._new_order_facts(shape, venue), instrument, self.engine._now).reject
        if reason is not None:
            self.engine._reject("StartAlgo", reason, cl_ord_id=ClientOrderId(command.cl_ord_id), account=command.account)
            return
        algo_id = f"{self.engine.id_prefix}A{len(self.engine.algos) + 1}"
        self.engine._emit(ev.AlgoStarted(seq=self.engine._next_seq(), ts=self.engine._now, actor=self.engine._actor, algo_id=algo_id,
                                  account=command.account, trader=TraderId(command.actor.user), symbol=command.symbol,
                                  side=command.side, cl_ord_id=command.cl_ord_id, params=params_text(params),
                                  route=command.route, volume_at_start=command.market_volume))
        self.work(self.engine.algos[algo_id], command.market_volume)

    def _algo_for(self, name: str, algo_id: str) -> AlgoParent | None:
        algo = self.engine.algos.get(algo_id)
        if algo is None:
            self.engine._reject(name, Reject(RejectCode.UNKNOWN_ALGO, f"unknown algorithm {algo_id!r}", {"algo_id": algo_id}))
            return None
        trader = self.engine.reference.traders.get(TraderId(self.engine._actor.user))
        if self.engine._actor.user != "system" and (trader is None or algo.account not in trader.accounts):
            self.engine._reject(name, Reject(RejectCode.NOT_PERMITTED, f"{self.engine._actor.user!r} may not trade account {algo.account!r}",
                                      {"user": self.engine._actor.user, "account": algo.account}), account=algo.account)
            return None
        if algo.status is AlgoStatus.DONE:
            self.engine._reject(name, Reject(RejectCode.TOO_LATE, f"algorithm {algo_id} has ended ({algo.reason})",
                                      {"algo_id": algo_id}), account=algo.account)
            return None
        return algo

    def algo_progress(self, algo: AlgoParent) -> tuple[Decimal, Decimal]:
        """(filled, working) over the children."""
        filled = working = ZERO
        for order_id in algo.children:
            child = self.engine.orders[order_id]
            filled += child.cum_qty
            working += child.working_qty
        return filled, working

    def _cancel_children(self, algo: AlgoParent) -> None:
        for order_id in algo.children:
            child = self.engine.orders[order_id]
            if child.working not in TERMINAL and child.pending is None:
                self.engine._cancel(cmd.CancelOrder(actor=self.engine._actor, order_id=order_id), client=False)

    def pause(self, command: cmd.PauseAlgo) -> None:
        algo = self._algo_for("PauseAlgo", command.algo_id)
        if algo is None:
            return
        if algo.status is AlgoStatus.PAUSED:
            self.engine._reject("PauseAlgo", Reject(RejectCode.ALREADY_PENDING, f"algorithm {algo.algo_id} is already paused"),
                         account=algo.account)
            return
        self.engine._emit(ev.AlgoPaused(seq=self.engine._next_seq(), ts=self.engine._now, actor=self.engine._actor, algo_id=algo.algo_id,
                                 reason=command.reason or "paused by user"))
        self._cancel_children(algo)

    def resume(self, command: cmd.ResumeAlgo) -> None:
        algo = self._algo_for("ResumeAlgo", command.algo_id)
        if algo is None:
            return
        if algo.status is not AlgoStatus.PAUSED:
            self.engine._reject("ResumeAlgo", Reject(RejectCode.INVALID_ALGO, f"algorithm {algo.algo_id} is not paused"),
                         account=algo.account)
            return
        self.engine._emit(ev.AlgoResumed(seq=self.engine._next_seq(), ts=self.engine._now, actor=self.engine._actor, algo_id=algo.algo_id,
                                  reason=command.reason or "resumed by user"))
        self.work(algo, None)

    def cancel(self, command: cmd.CancelAlgo) -> None:
        algo = self._algo_for("CancelAlgo", command.algo_id)
        if algo is None:
            return
        self.engine._emit(ev.AlgoEnded(seq=self.engine._next_seq(), ts=self.engine._now, actor=self.engine._actor, algo_id=algo.algo_id,
                                reason=command.reason or "canceled by user"))
        self._cancel_children(algo)

    def modify(self, command: cmd.ModifyAlgo) -> None:
        algo = self._algo_for("ModifyAlgo", command.algo_id)
        if algo is None:
            return
        old = algo.params
        new = AlgoParams(old.kind, command.quantity if command.quantity is not None else old.quantity,
                         command.limit_price if command.limit_price is not None else old.limit_price, old.start_at,
                         command.end_at if command.end_at is not None else old.end_at, old.interval_s,
                         command.participation_pct if command.participation_pct is not None else old.participation_pct,
                         old.min_participation_pct, old.max_participation_pct, old.display_qty, old.profile)
        instrument = self.engine.reference.instruments[algo.symbol]
        filled, _ = self.algo_progress(algo)
        reason = instrument.check_quantity(new.quantity) or validate(new, instrument.lot_size, self.engine._now)
        if reason is None and new.limit_price is not None:
            reason = instrument.check_price(new.limit_price)
        if reason is None and new.quantity < filled:
            reason = Reject(RejectCode.INVALID_ALGO, f"quantity {new.quantity} is below what is already filled ({filled})")
        if reason is None and self.engine.gate is not None and new.quantity > old.quantity:
            shape = cmd.SubmitOrder(actor=self.engine._actor, account=algo.account, cl_ord_id=ClientOrderId(algo.cl_ord_id),
                                    symbol=algo.symbol, side=algo.side, quantity=new.quantity,
                                    ord_type=OrdType.LIMIT if new.limit_price is not None else OrdType.MARKET,
                                    price=new.limit_price)
            venue = instrument.venues[0] if instrument.venues else self.engine.default_venue
            reason = self.engine.gate.check(self.engine._new_order_facts(shape, venue), instrument, self.engine._now).reject
        if reason is not None:
            self.engine._reject("ModifyAlgo", reason, account=algo.account)
            return
        self.engine._emit(ev.AlgoModified(seq=self.engine._next_seq(), ts=self.engine._now, actor=self.engine._actor, algo_id=algo.algo_id,
                                   params=params_text(new), previous=params_text(old)))
        self._cancel_children(algo)  # re-sliced on the new terms once they are out

    def tick(self, command: cmd.AlgoTick) -> None:
        for algo in list(self.engine.active_algos.values()):
            self.work(algo, command.volumes.get(algo.symbol))

    def children_done(self, out: list[ev.Event]) -> None:
        """A child filled: its parent looks again at once (iceberg refill, completion). A child the
        venue rejected pauses the parent with the reason (resending would meet the same answer);
        canceled children are replaced at the next tick."""
        seen: set[str] = set()
        for event in list(out):
            kind = type(event)
            if kind is not ev.OrderFilled and kind is not ev.OrderRejected:
                continue
            child = self.engine.orders[event.order_id]  # type: ignore[attr-defined]
            algo = self.engine.active_algos.get(child.parent_id) if child.parent_id else None
            if algo is None or algo.algo_id in seen or algo.status is not AlgoStatus.WORKING:
                continue
            if kind is ev.OrderRejected:
                seen.add(algo.algo_id)
                self.engine._emit(ev.AlgoPaused(seq=self.engine._next_seq(), ts=self.engine._now, actor=self.engine._actor, algo_id=algo.algo_id,
                                         reason=f"child order {child.order_id} rejected: {child.text}"))
            elif child.working is OrdStatus.FILLED:
                seen.add(algo.algo_id)
                self.work(algo, None)

    def work(self, algo: AlgoParent, market_volume: Decimal | None) -> None:
        """Send what the schedule says is due, as one child order; end the algorithm when it is done."""
        if algo.status is not AlgoStatus.WORKING:
            return
        params = algo.params
        if self.engine._now < params.start_at:
            return
        filled, working = self.algo_progress(algo)
        ended = None
        if filled >= params.quantity:
            ended = f"completed: {filled} filled"
        elif params.end_at is not None and self.engine._now >= params.end_at:
            ended = f"end time reached: {filled} of {params.quantity} filled"
        if ended is not None:
            self.engine._emit(ev.AlgoEnded(seq=self.engine._next_seq(), ts=self.engine._now, actor=self.engine._actor, algo_id=algo.algo_id, reason=ended))
            self._cancel_children(algo)
            return
        lot = self.engine.reference.instruments[algo.symbol].lot_size
        observed = market_volume - algo.volume_at_start if market_volume is not None else algo.last_volume
        if params.kind is AlgoKind.ICEBERG:
            assert params.display_qty is not None
            target = filled + params.display_qty if not working else ZERO
            child = min(params.display_qty, params.quantity - filled) if not working else ZERO
        else:
            target = algo.target(self.engine._now, observed, lot)
            child = lots(target - filled - working, lot)
        if child <= ZERO:
            return
        self.engine._emit(ev.AlgoSliced(seq=self.engine._next_seq(), ts=self.engine._now, actor=self.engine._actor, algo_id=algo.algo_id,
                                 target=min(target, params.quantity), observed_volume=observed))
        before = len(self.engine._out)
        self.engine._submit(cmd.SubmitOrder(
            actor=cmd.Actor(algo.trader, "algo", algo.algo_id), account=algo.account,
            cl_ord_id=ClientOrderId(f"{algo.cl_ord_id}.{len(algo.children) + 1}"), symbol=algo.symbol, side=algo.side,
            quantity=child, ord_type=OrdType.LIMIT if params.limit_price is not None else OrdType.MARKET,
            price=params.limit_price, route=algo.route), parent_id=algo.algo_id)
        refused = self.engine._out[before:]
        if refused and type(refused[0]) is ev.CommandRejected:
            reason: Reject = refused[0].reason  # type: ignore[attr-defined]
            self.engine._emit(ev.AlgoPaused(seq=self.engine._next_seq(), ts=self.engine._now, actor=self.engine._actor, algo_id=algo.algo_id,
                                     reason=f"child order refused: {reason.message}"))
