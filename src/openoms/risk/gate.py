"""RiskGate: the limits and restricted lists in force (changed only by journaled events) and the
market reference, wired into the engine as its PreTradeGate."""

from __future__ import annotations

from decimal import Decimal

from ..domain import events as ev
from ..domain.accounts import ReferenceData
from ..domain.gate import OrderFacts, Verdict
from ..domain.ids import AccountId, Symbol, TraderId
from ..domain.instruments import Instrument
from ..domain.rejects import Reject, RejectCode
from .checks import Case, PriceSource, Rule, applicable_rules, explain
from .limits import LimitError, LimitSet, check_scope


class RiskGate:
    def __init__(self, reference: ReferenceData, prices: PriceSource, max_age_ns: int) -> None:
        self.reference = reference
        self.prices = prices
        self.max_age_ns = max_age_ns
        self.limits: dict[str, LimitSet] = {}
        self.restricted: dict[str, frozenset[Symbol]] = {}
        # Per (account, trader): the scopes above it and the limits in force there. Rebuilt
        # lazily after any limits change; this keeps the per-order cost to the checks themselves.
        self._scopes: dict[tuple[str, str], tuple[tuple[str, ...], tuple[tuple[str, LimitSet], ...], tuple[Rule, ...]]] = {}

    def check(self, facts: OrderFacts, instrument: Instrument, now: int) -> Verdict:
        try:
            market = self.prices(facts.symbol)
            key = (facts.account, facts.trader)
            cached = self._scopes.get(key)
            if cached is None:
                scopes = tuple(self.reference.scopes_of(facts.account, facts.trader))
                in_force = tuple((s, self.limits[s]) for s in scopes if s in self.limits)
                cached = self._scopes[key] = (scopes, in_force, applicable_rules(in_force, self.restricted))
            case = Case(facts, instrument, cached[0], cached[1], self.restricted, market, now, self.max_age_ns)
            reject = None
            for rule in cached[2]:
                reject = rule(case)
                if reject is not None:
                    break
            reference_price = None
            if market is not None:
                reference_price = market.price
        except Exception as exc:  # noqa: BLE001 - a check that cannot be evaluated refuses the order (fail closed)
            return Verdict(Reject(RejectCode.RISK_CHECK_FAILED, f"pre-trade risk could not evaluate the order: {exc!r}",
                                  {"rule": "evaluation"}))
        return Verdict(reject, reference_price)

    def explain(self, facts: OrderFacts, instrument: Instrument, now: int) -> list[tuple[str, Reject | None]]:
        try:
            market = self.prices(facts.symbol)
        except Exception as exc:  # noqa: BLE001 - reported as the live path would refuse
            return [("reference_price", Reject(RejectCode.RISK_CHECK_FAILED, f"no market view: {exc!r}", {"rule": "reference_price"}))]
        scopes = self.reference.scopes_of(facts.account, facts.trader)
        in_force = tuple((s, self.limits[s]) for s in scopes if s in self.limits)
        return explain(Case(facts, instrument, scopes, in_force, self.restricted, market, now, self.max_age_ns))

    def limits_change(self, scope: str, limits: dict[str, str] | None) -> tuple[dict[str, str] | None, dict[str, str] | None] | Reject:
        try:
            check_scope(scope)
            new = LimitSet.parse(dict(limits), scope).as_text() if limits is not None else None
        except LimitError as exc:
            return Reject(RejectCode.INVALID_LIMIT, str(exc), {"scope": scope})
        previous = self.limits[scope].as_text() if scope in self.limits else None
        return new, previous

    def restricted_change(self, scope: str, symbols: list[str]) -> tuple[list[str], list[str]] | Reject:
        try:
            check_scope(scope)
        except LimitError as exc:
            return Reject(RejectCode.INVALID_LIMIT, str(exc), {"scope": scope})
        return sorted(set(symbols)), sorted(self.restricted.get(scope, frozenset()))

    def apply(self, event: ev.LimitsChanged | ev.RestrictedListChanged) -> None:
        self._scopes.clear()
        if isinstance(event, ev.LimitsChanged):
            if event.limits is None:
                self.limits.pop(event.scope, None)
            else:
                self.limits[event.scope] = LimitSet(**{k: Decimal(v) for k, v in event.limits.items()})
        else:
            if event.symbols:
                self.restricted[event.scope] = frozenset(Symbol(s) for s in event.symbols)
            else:
                self.restricted.pop(event.scope, None)

    def position_usage(self, account: str, trader: str, symbol: str, position: Decimal, buys: Decimal,
                       sells: Decimal) -> dict[str, object]:
        """How much of the tightest long and short limits an account uses in one instrument."""
        scopes = self.reference.scopes_of(AccountId(account), TraderId(trader))
        long_limits = [(s, self.limits[s].max_long_position) for s in scopes if s in self.limits and self.limits[s].max_long_position]
        short_limits = [(s, self.limits[s].max_short_position) for s in scopes if s in self.limits and self.limits[s].max_short_position]
        usage: dict[str, object] = {
            "account": account, "symbol": symbol, "position": str(position),
            "working_buys": str(buys), "working_sells": str(sells),
        }
        for name, limits, used in (("long", long_limits, position + buys), ("short", short_limits, sells - position)):
            if limits:
                scope, cap = min(limits, key=lambda item: item[1])  # type: ignore[arg-type,return-value]
                assert cap is not None
                usage[name] = {"scope": scope, "limit": str(cap), "used": str(used),
                               "used_pct": str((used * 100 / cap).quantize(Decimal("0.01")))}
        return usage
