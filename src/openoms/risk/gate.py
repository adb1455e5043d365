"""RiskGate: the limits and restricted lists in force (changed only by journaled events) and the
market reference, wired into the engine as its PreTradeGate."""

from __future__ import annotations

from decimal import Decimal

from ..domain import events as ev
from ..domain.accounts import ReferenceData
from ..domain.gate import OrderFacts, Verdict
from ..domain.ids import Symbol
from ..domain.instruments import Instrument
from ..domain.rejects import Reject, RejectCode
from .checks import PriceSource, check_order
from .limits import LimitError, LimitSet, check_scope


class RiskGate:
    def __init__(self, reference: ReferenceData, prices: PriceSource, max_age_ns: int) -> None:
        self.reference = reference
        self.prices = prices
        self.max_age_ns = max_age_ns
        self.limits: dict[str, LimitSet] = {}
        self.restricted: dict[str, frozenset[Symbol]] = {}

    def check(self, facts: OrderFacts, instrument: Instrument, now: int) -> Verdict:
        try:
            market = self.prices(facts.symbol)
            reject = check_order(facts, instrument, self.reference, self.limits, self.restricted, market, now, self.max_age_ns)
            reference_price = None
            if market is not None:
                reference_price = market.last if market.last > 0 else (market.bid + market.ask) / 2
        except Exception as exc:  # noqa: BLE001 - a check that cannot be evaluated refuses the order (fail closed)
            return Verdict(Reject(RejectCode.RISK_CHECK_FAILED, f"pre-trade risk could not evaluate the order: {exc!r}",
                                  {"rule": "evaluation"}))
        return Verdict(reject, reference_price)

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
