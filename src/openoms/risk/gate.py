"""RiskGate: the limits, overrides and lists in force (changed only by journaled events) and
the market reference, wired into the engine as its PreTradeGate."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ..domain import events as ev
from ..domain.accounts import ReferenceData
from ..domain.gate import OrderFacts, Verdict
from ..domain.ids import AccountId, OrderId, Symbol, TraderId
from ..domain.instruments import Instrument
from ..domain.rejects import Reject, RejectCode
from ..domain.values import OrdType
from .checks import Case, PriceSource, Refusal, Rule, account_usage, applicable_rules, explain, throttle
from .fx import FxRates
from .limits import Effective, LimitError, LimitSet, check_scope

NEVER = 2**63


@dataclass(frozen=True, slots=True)
class _InForce:
    """What applies to one (account, trader): its scopes, their limits compiled, the rules those
    limits switch on, and when the first override among them runs out (then this is rebuilt)."""

    scopes: tuple[str, ...]
    limits: Effective
    rules: tuple[Rule, ...]
    valid_until: int
    restricted: frozenset[Symbol]  # every symbol on a restricted list above it


class RiskGate:
    def __init__(self, reference: ReferenceData, prices: PriceSource, max_age_ns: int, fx: FxRates | None = None) -> None:
        self.reference = reference
        self.prices = prices
        self.max_age_ns = max_age_ns
        self.fx = fx or FxRates()
        self.limits: dict[str, LimitSet] = {}
        self.overrides: dict[str, tuple[dict[str, str], int]] = {}
        self._override_sets: dict[str, tuple[LimitSet, int]] = {}
        self.restricted: dict[str, frozenset[Symbol]] = {}
        self.watch: dict[str, frozenset[Symbol]] = {}
        # Per (account, trader), rebuilt lazily after any change: keeps the per-order cost to the checks.
        self._cache: dict[tuple[str, str], _InForce] = {}
        self._compiled: dict[tuple[tuple[int, LimitSet], ...], tuple[Effective, tuple[Rule, ...]]] = {}

    def _in_force(self, account: AccountId, trader: TraderId, now: int) -> _InForce:
        key = (account, trader)
        cached = self._cache.get(key)
        if cached is not None and now < cached.valid_until:
            return cached
        scopes = tuple(self.reference.scopes_of(account, trader))
        in_force = []
        valid_until = NEVER
        for level, scope in enumerate(scopes):
            base = self.limits.get(scope)
            override = self._override_sets.get(scope)
            if override is not None and now < override[1]:
                base = (base or LimitSet()).merged(override[0])
                valid_until = min(valid_until, override[1])
            if base is not None:
                in_force.append((level, base))
        # Accounts whose limits are equal level by level (the usual case: the same firm and desk
        # limits, the same account template) share one compiled Effective: built once, and one
        # object in the CPU cache instead of one per account.
        combination = tuple(in_force)
        compiled = self._compiled.get(combination)
        if compiled is None:
            effective = Effective(in_force)
            compiled = self._compiled[combination] = (effective, applicable_rules(effective, self.restricted))
        restricted = frozenset(symbol for scope in scopes for symbol in self.restricted.get(scope, ()))
        found = _InForce(scopes, compiled[0], compiled[1], valid_until, restricted)
        self._cache[key] = found
        return found

    def check(self, facts: OrderFacts, instrument: Instrument, now: int) -> Verdict:
        try:
            market = self.prices(facts.symbol)
            applies = self._in_force(facts.account, facts.trader, now)
            case = Case(facts, instrument, applies.scopes, applies.limits, self.restricted, market, now, self.max_age_ns,
                        self.reference, self.prices, self.fx, applies.restricted)
            try:
                for rule in applies.rules:
                    reject = rule(case)
                    if reject is not None:
                        return Verdict(reject)
            except Refusal as refusal:
                return Verdict(refusal.reject)
            reference_price = None
            if market is not None:
                # A market order is judged (and its notional counted) at the far touch.
                if facts.ord_type is OrdType.MARKET:
                    reference_price = market.ask if facts.side.is_buy else market.bid
                else:
                    reference_price = market.price
            cancel_first: tuple[OrderId, ...] = ()
            stp = applies.limits.self_trade_prevention
            if facts.crossing and stp is not None and stp.value == "cancel_resting":
                cancel_first = tuple(order_id for order_id, _, _ in facts.crossing)
            alerts = self._watch_alerts(case) if self.watch else ()
        except Exception as exc:  # noqa: BLE001 - a check that cannot be evaluated refuses the order (fail closed)
            return Verdict(Reject(RejectCode.RISK_CHECK_FAILED, f"pre-trade risk could not evaluate the order: {exc!r}",
                                  {"rule": "evaluation"}))
        return Verdict(None, reference_price, alerts, cancel_first)

    def _watch_alerts(self, case: Case) -> tuple[str, ...]:
        underlying = case.instrument.underlying
        names = {case.facts.symbol} | ({underlying} if underlying else set())
        return tuple(f"{name} is on the watch list of {scope}" for scope in case.scopes
                     for name in sorted(names & self.watch.get(scope, frozenset())))

    def market_price(self, symbol: Symbol) -> Decimal | None:
        try:
            market = self.prices(symbol)
        except Exception:  # noqa: BLE001 - only recorded: a failing feed records nothing
            return None
        return market.price if market is not None else None

    def check_cancel(self, account: AccountId, trader: TraderId, cancels_last_second: int, now: int) -> Reject | None:
        try:
            applies = self._in_force(account, trader, now)  # an expired override no longer applies
            return throttle(cancels_last_second, applies.limits.max_cancels_per_second, applies.scopes, account,
                            "cancel requests", "max_cancels_per_second")
        except Exception as exc:  # noqa: BLE001 - fail closed, like new orders
            return Reject(RejectCode.RISK_CHECK_FAILED, f"pre-trade risk could not evaluate the cancel: {exc!r}",
                          {"rule": "evaluation"})

    def explain(self, facts: OrderFacts, instrument: Instrument, now: int) -> list[tuple[str, Reject | None]]:
        try:
            market = self.prices(facts.symbol)
        except Exception as exc:  # noqa: BLE001 - reported as the live path would refuse
            return [("reference_price", Reject(RejectCode.RISK_CHECK_FAILED, f"no market view: {exc!r}", {"rule": "reference_price"}))]
        applies = self._in_force(facts.account, facts.trader, now)
        return explain(Case(facts, instrument, applies.scopes, applies.limits, self.restricted, market, now, self.max_age_ns,
                            self.reference, self.prices, self.fx))

    def limits_change(self, scope: str, limits: dict[str, str] | None) -> tuple[dict[str, str] | None, dict[str, str] | None] | Reject:
        try:
            check_scope(scope)
            new = LimitSet.parse(dict(limits), scope).as_text() if limits is not None else None
        except LimitError as exc:
            return Reject(RejectCode.INVALID_LIMIT, str(exc), {"scope": scope})
        previous = self.limits[scope].as_text() if scope in self.limits else None
        return new, previous

    def override_change(self, scope: str, limits: dict[str, str]) -> dict[str, str] | Reject:
        try:
            check_scope(scope)
            if not limits:
                raise LimitError(f"{scope}: an override must set at least one limit")
            return LimitSet.parse(dict(limits), f"override of {scope}").as_text()
        except LimitError as exc:
            return Reject(RejectCode.INVALID_LIMIT, str(exc), {"scope": scope})

    def restricted_change(self, scope: str, symbols: list[str], kind: str = "restricted") -> tuple[list[str], list[str]] | Reject:
        try:
            check_scope(scope)
        except LimitError as exc:
            return Reject(RejectCode.INVALID_LIMIT, str(exc), {"scope": scope})
        lists = self.watch if kind == "watch" else self.restricted
        return sorted(set(symbols)), sorted(lists.get(scope, frozenset()))

    def due_overrides(self, now: int) -> list[str]:
        return sorted(scope for scope, (_, expires_at) in self.overrides.items() if expires_at <= now)

    def apply(self, event: ev.Event) -> None:
        self._cache.clear()
        self._compiled.clear()
        if isinstance(event, ev.LimitsChanged):
            if event.limits is None:
                self.limits.pop(event.scope, None)
            else:
                self.limits[event.scope] = LimitSet.from_text(event.limits)
        elif isinstance(event, ev.RestrictedListChanged):
            lists = self.watch if event.kind == "watch" else self.restricted
            if event.symbols:
                lists[event.scope] = frozenset(Symbol(s) for s in event.symbols)
            else:
                lists.pop(event.scope, None)
        elif isinstance(event, ev.LimitsOverridden):
            self.overrides[event.scope] = (event.limits, event.expires_at)
            self._override_sets[event.scope] = (LimitSet.from_text(event.limits), event.expires_at)
        elif isinstance(event, ev.OverrideEnded):
            self.overrides.pop(event.scope, None)
            self._override_sets.pop(event.scope, None)

    def account_usage(self, facts: OrderFacts, instrument: Instrument, now: int) -> dict[str, object]:
        applies = self._in_force(facts.account, facts.trader, now)
        return account_usage(Case(facts, instrument, applies.scopes, applies.limits, self.restricted, None, now,
                                  self.max_age_ns, self.reference, self.prices, self.fx))

    def position_usage(self, account: str, trader: str, symbol: str, position: Decimal, buys: Decimal,
                       sells: Decimal) -> dict[str, object]:
        """How much of the tightest long and short limits an account uses in one instrument."""
        applies = self._in_force(AccountId(account), TraderId(trader), 0)
        usage: dict[str, object] = {
            "account": account, "symbol": symbol, "position": str(position),
            "working_buys": str(buys), "working_sells": str(sells),
        }
        for name, bound, used in (("long", applies.limits.max_long_position, position + buys),
                                  ("short", applies.limits.max_short_position, sells - position)):
            if bound is not None:
                cap, scope = bound.value, applies.scopes[bound.level]
                usage[name] = {"scope": scope, "limit": str(cap), "used": str(used),
                               "used_pct": str((used * 100 / cap).quantize(Decimal("0.01")))}
        return usage
