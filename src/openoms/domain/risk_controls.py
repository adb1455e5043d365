"""Risk controls: limits, restricted lists, overrides, locates, the what-if and the kill switch.

Part of the single writer: it runs only inside ``OrderEngine.handle`` (``what_if`` decides
nothing) and emits through the engine, so replay (``OrderEngine.apply``, which folds the
limit, locate and kill-switch events) rebuilds the state, which stays on the engine and its gate.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from . import commands as cmd
from . import events as ev
from .ids import AccountId, OrderId, Symbol, TraderId
from .lifecycle import Pending
from .rejects import Reject, RejectCode
from .values import ZERO, Side

if TYPE_CHECKING:
    from .engine import OrderEngine


class RiskControls:
    """The engine's risk-officer commands, its what-if and its kill switch (``kill_switches`` stays on the engine)."""

    def __init__(self, engine: OrderEngine) -> None:
        self.engine = engine

    def risk_officer(self, name: str) -> bool:
        """Limits, lists, overrides and kill-switch release are a risk officer's (or the system's, loading its files)."""
        engine = self.engine
        user = engine._actor.user
        if user == "system" or engine.reference.has_role(user, "risk_officer"):
            return True
        engine._reject(name, Reject(RejectCode.NOT_PERMITTED, f"{name} needs the risk_officer role; {user!r} does not have it",
                                    {"user": user, "role": "risk_officer"}))
        return False

    def set_limits(self, command: cmd.SetLimits) -> None:
        engine = self.engine
        if not self.risk_officer("SetLimits"):
            return
        if engine.gate is None:
            engine._reject("SetLimits", Reject(RejectCode.INVALID_LIMIT, "pre-trade risk is not configured"))
            return
        change = engine.gate.limits_change(command.scope, command.limits)
        if isinstance(change, Reject):
            engine._reject("SetLimits", change)
            return
        new, previous = change
        if new != previous:  # loading an unchanged limits file journals nothing
            engine._emit(ev.LimitsChanged(seq=engine._next_seq(), ts=engine._now, actor=engine._actor, scope=command.scope,
                                          limits=new, previous=previous, reason=command.reason))

    def set_restricted(self, command: cmd.SetRestricted) -> None:
        engine = self.engine
        if not self.risk_officer("SetRestricted"):
            return
        if command.kind not in ("restricted", "watch"):
            engine._reject("SetRestricted", Reject(RejectCode.INVALID_LIMIT, f"list kind must be restricted or watch, got {command.kind!r}",
                                                   {"kind": command.kind}))
            return
        if engine.gate is None:
            engine._reject("SetRestricted", Reject(RejectCode.INVALID_LIMIT, "pre-trade risk is not configured"))
            return
        change = engine.gate.restricted_change(command.scope, command.symbols, command.kind)
        if isinstance(change, Reject):
            engine._reject("SetRestricted", change)
            return
        new, previous = change
        if new != previous:
            engine._emit(ev.RestrictedListChanged(seq=engine._next_seq(), ts=engine._now, actor=engine._actor, scope=command.scope,
                                                  symbols=new, previous=previous, reason=command.reason, kind=command.kind))

    def override_limits(self, command: cmd.OverrideLimits) -> None:
        engine = self.engine
        if not self.risk_officer("OverrideLimits"):
            return
        if engine.gate is None:
            engine._reject("OverrideLimits", Reject(RejectCode.INVALID_LIMIT, "pre-trade risk is not configured"))
            return
        if command.expires_at <= engine._now:
            engine._reject("OverrideLimits", Reject(RejectCode.INVALID_LIMIT, "an override must expire in the future",
                                                    {"expires_at": str(command.expires_at)}))
            return
        if not command.reason.strip():
            engine._reject("OverrideLimits", Reject(RejectCode.INVALID_LIMIT, "an override needs a reason"))
            return
        change = engine.gate.override_change(command.scope, command.limits)
        if isinstance(change, Reject):
            engine._reject("OverrideLimits", change)
            return
        engine._emit(ev.LimitsOverridden(seq=engine._next_seq(), ts=engine._now, actor=engine._actor, scope=command.scope,
                                         limits=change, expires_at=command.expires_at, reason=command.reason))

    def end_override(self, command: cmd.EndOverride) -> None:
        engine = self.engine
        if not self.risk_officer("EndOverride"):
            return
        if engine.gate is None or command.scope not in engine.gate.overrides:
            engine._reject("EndOverride", Reject(RejectCode.INVALID_SCOPE, f"no override is in force for {command.scope!r}",
                                                 {"scope": command.scope}))
            return
        engine._emit(ev.OverrideEnded(seq=engine._next_seq(), ts=engine._now, actor=engine._actor, scope=command.scope,
                                      reason=command.reason))

    def grant_locate(self, command: cmd.GrantLocate) -> None:
        engine = self.engine
        user = engine._actor.user
        if not (user == "system" or engine.reference.has_role(user, "risk_officer") or engine.reference.has_role(user, "operations")):
            engine._reject("GrantLocate", Reject(RejectCode.NOT_PERMITTED, f"recording a locate needs the operations or "
                                                 f"risk_officer role; {user!r} has neither", {"user": user}))
            return
        instrument = engine.reference.instruments.get(command.symbol)
        reason = None
        if command.account not in engine.reference.accounts:
            reason = Reject(RejectCode.UNKNOWN_ACCOUNT, f"unknown account {command.account!r}", {"account": command.account})
        elif instrument is None:
            reason = Reject(RejectCode.UNKNOWN_INSTRUMENT, f"unknown instrument {command.symbol!r}", {"symbol": command.symbol})
        elif not command.locate_id.strip():
            reason = Reject(RejectCode.INVALID_LIMIT, "a locate needs its id (from the lender)")
        elif command.expires_at <= engine._now:
            reason = Reject(RejectCode.INVALID_LIMIT, "the locate has already expired", {"expires_at": str(command.expires_at)})
        else:
            reason = instrument.check_quantity(command.quantity)
        if reason is not None:
            engine._reject("GrantLocate", reason, account=command.account)
            return
        engine._emit(ev.LocateGranted(seq=engine._next_seq(), ts=engine._now, actor=engine._actor, account=command.account,
                                      symbol=command.symbol, locate_id=command.locate_id, quantity=command.quantity,
                                      expires_at=command.expires_at, source=command.source))

    # --- what-if -------------------------------------------------------------------------

    def what_if(self, command: cmd.SubmitOrder, now: int) -> list[tuple[str, Reject | None]]:
        """Every check a new order would meet, each with its answer; decides and changes nothing."""
        engine = self.engine
        engine._now = now
        results: list[tuple[str, Reject | None]] = [("validation", engine._validate_submit(command))]
        instrument = engine.reference.instruments.get(command.symbol)
        if results[0][1] is not None or instrument is None:
            return results
        trader = TraderId(command.actor.user)
        results.append(("kill_switch", self.kill_switch_refusal(command.account, trader, command.symbol, command.side,
                                                                command.quantity) if engine.kill_switches else None))
        if engine.gate is not None:
            venue = instrument.venues[0] if instrument.venues else engine.default_venue
            results += engine.gate.explain(engine._new_order_facts(command, venue), instrument, now)
        return results

    # --- kill switch ------------------------------------------------------------------------

    def scopes_of(self, account: AccountId, trader: TraderId, symbol: Symbol) -> list[str]:
        """Where a kill switch can reach an order: its hierarchy and its instrument."""
        return [*self.engine.reference.scopes_of(account, trader), f"instrument:{symbol}"]

    def kill_switch_refusal(
        self, account: AccountId, trader: TraderId, symbol: Symbol, side: Side, quantity: Decimal,
        order_id: OrderId | None = None,
    ) -> Reject | None:
        """Inside an engaged scope only an order that shrinks the position, and cannot flip it
        (counting the same side's other working orders), is admitted."""
        engine = self.engine
        scope = next((s for s in self.scopes_of(account, trader, symbol) if s in engine.kill_switches), None)
        if scope is None:
            return None
        exclude = engine.orders.get(order_id) if order_id is not None else None
        if engine._reduces_only(account, symbol, side, quantity - (exclude.cum_qty if exclude else ZERO), exclude):
            return None
        position = engine.positions.get((account, symbol))
        held = position.quantity if position is not None else ZERO
        return Reject(
            RejectCode.KILL_SWITCH,
            f"trading is stopped for {scope} ({engine.kill_switches[scope]}); only orders that reduce a position are admitted",
            {"scope": scope, "position": str(held)},
        )

    def check_kill_scope(self, name: str, scope: str) -> bool:
        engine = self.engine
        level, _, ident = scope.partition(":")
        if level in ("firm", "desk", "trader", "account", "instrument") and ident:
            return True
        engine._reject(name, Reject(RejectCode.INVALID_SCOPE, "scope must be firm:, desk:, trader:, account: or instrument: "
                                    f"followed by an id, got {scope!r}", {"scope": scope}))
        return False

    def engage_kill_switch(self, command: cmd.EngageKillSwitch) -> None:
        engine = self.engine
        if not self.check_kill_scope("EngageKillSwitch", command.scope):
            return
        if command.scope not in engine.kill_switches:
            engine._emit(ev.KillSwitchEngaged(seq=engine._next_seq(), ts=engine._now, actor=engine._actor, scope=command.scope,
                                              reason=command.reason))
        # Cancel every working order in scope (again, if re-engaged: orders may have come back to life).
        # One with a replace in flight is canceled as soon as the replace is answered.
        for order in list(engine.live.values()):
            if command.scope not in self.scopes_of(order.account, order.trader, order.symbol):
                continue
            if order.pending is None:
                engine._cancel(cmd.CancelOrder(actor=command.actor, order_id=order.order_id), client=False)
            elif order.pending is Pending.REPLACE and not order.cancel_deferred:
                engine._emit(ev.CancelDeferred(seq=engine._next_seq(), ts=engine._now, actor=engine._actor, order_id=order.order_id,
                                               reason=f"kill switch {command.scope}: cancel once the pending replace is answered"))

    def release_kill_switch(self, command: cmd.ReleaseKillSwitch) -> None:
        engine = self.engine
        if not self.risk_officer("ReleaseKillSwitch"):
            return
        if command.scope not in engine.kill_switches:
            engine._reject("ReleaseKillSwitch", Reject(RejectCode.INVALID_SCOPE, f"no kill switch is engaged for {command.scope!r}",
                                                       {"scope": command.scope}))
            return
        engine._emit(ev.KillSwitchReleased(seq=engine._next_seq(), ts=engine._now, actor=engine._actor, scope=command.scope,
                                           reason=command.reason))
