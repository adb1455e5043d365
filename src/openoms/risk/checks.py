"""The pre-trade checks. Pure: the caller passes the order, the limits in force, the market
reference and the time. Each refusal names the rule, the scope whose limit was hit, the limit
and the value, and the order is refused whenever a check cannot be evaluated (fail closed)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from ..domain.accounts import ReferenceData
from ..domain.gate import OrderFacts
from ..domain.ids import Symbol
from ..domain.instruments import Instrument
from ..domain.rejects import Reject, RejectCode
from ..domain.values import OrdType
from .limits import LimitSet

HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class Reference:
    """The market an order is judged against: top of book and last trade at ``ts`` (ns, UTC)."""

    bid: Decimal
    ask: Decimal
    last: Decimal
    ts: int
    halted: bool = False

    @property
    def price(self) -> Decimal:
        """The reference an order is judged against: the last trade, else the mid."""
        return self.last if self.last > 0 else (self.bid + self.ask) / 2


PriceSource = Callable[[Symbol], Reference | None]


def _refuse(code: RejectCode, message: str, rule: str, scope: str = "", limit: object = "", value: object = "") -> Reject:
    detail = {"rule": rule}
    if scope:
        detail["scope"] = scope
    if limit != "":
        detail["limit"] = str(limit)
    if value != "":
        detail["value"] = str(value)
    return Reject(code, message, detail)


def check_order(
    facts: OrderFacts,
    instrument: Instrument,
    reference_data: ReferenceData,
    limits: Mapping[str, LimitSet],
    restricted: Mapping[str, frozenset[Symbol]],
    market: Reference | None,
    now: int,
    max_age_ns: int,
) -> Reject | None:
    """All checks for one order, from the raw limit tables (RiskGate caches the first two steps)."""
    scopes = reference_data.scopes_of(facts.account, facts.trader)
    in_force = tuple((scope, limits[scope]) for scope in scopes if scope in limits)
    return evaluate(facts, instrument, scopes, in_force, restricted, market, now, max_age_ns)


@dataclass(frozen=True, slots=True)
class Case:
    """One order in front of the rules, with everything they may look at."""

    facts: OrderFacts
    instrument: Instrument
    scopes: Sequence[str]
    in_force: Sequence[tuple[str, LimitSet]]
    restricted: Mapping[str, frozenset[Symbol]]
    market: Reference | None
    now: int
    max_age_ns: int


def _restricted_list(case: Case) -> Reject | None:
    """The instrument itself or, for a derivative, its underlying, on a scope's restricted list."""
    if not case.restricted:
        return None
    underlying = case.instrument.underlying
    names = {case.facts.symbol} | ({underlying} if underlying else set())
    for scope in case.scopes:
        hit = names & case.restricted.get(scope, frozenset())
        if hit:
            name = sorted(hit)[0]
            return _refuse(RejectCode.RISK_RESTRICTED, f"{name} is on the restricted list of {scope}",
                           "restricted_list", scope, value=name)
    return None


def _limits_configured(case: Case) -> Reject | None:
    if case.in_force:
        return None
    return _refuse(RejectCode.RISK_NO_LIMITS, f"no risk limits are configured for account {case.facts.account} "
                   f"or anything above it ({', '.join(case.scopes)})", "limits_configured")


def _max_order_quantity(case: Case) -> Reject | None:
    quantity = case.facts.quantity
    for scope, limit_set in case.in_force:
        cap = limit_set.max_order_quantity
        if cap is not None and quantity > cap:
            return _refuse(RejectCode.RISK_MAX_QUANTITY, f"quantity {quantity} is above the {scope} limit of {cap}",
                           "max_order_quantity", scope, cap, quantity)
    return None


def _position_limits(case: Case) -> Reject | None:
    """Position limits count what is already working: an order counts the moment it is accepted."""
    facts = case.facts
    open_qty = max(facts.quantity - facts.already_filled, Decimal(0))
    for scope, limit_set in case.in_force:
        if facts.side.is_buy and limit_set.max_long_position is not None:
            projected = facts.position + facts.working_buys + open_qty
            if projected > limit_set.max_long_position:
                return _refuse(RejectCode.RISK_POSITION_LIMIT,
                               f"position {facts.position} + working buys {facts.working_buys} + {open_qty} = {projected} "
                               f"would exceed the {scope} long limit of {limit_set.max_long_position}",
                               "max_long_position", scope, limit_set.max_long_position, projected)
        if not facts.side.is_buy and limit_set.max_short_position is not None:
            projected = facts.working_sells + open_qty - facts.position
            if projected > limit_set.max_short_position:
                return _refuse(RejectCode.RISK_POSITION_LIMIT,
                               f"position {facts.position} - working sells {facts.working_sells} - {open_qty} would be short "
                               f"{projected}, beyond the {scope} short limit of {limit_set.max_short_position}",
                               "max_short_position", scope, limit_set.max_short_position, projected)
    return None


def _duplicate_order(case: Case) -> Reject | None:
    last = case.facts.last_identical_ts
    if last is None:
        return None
    for scope, limit_set in case.in_force:
        window = limit_set.duplicate_window_ms
        if window is not None and case.now - last < window * 1_000_000:
            age_ms = (case.now - last) // 1_000_000
            return _refuse(RejectCode.RISK_DUPLICATE_ORDER,
                           f"an identical order (same side, instrument, quantity and price) was accepted {age_ms} ms ago; "
                           f"{scope} refuses duplicates within {window} ms", "duplicate_window_ms", scope, window, age_ms)
    return None


def _order_rate(case: Case) -> Reject | None:
    sent = case.facts.orders_last_second + 1
    for scope, limit_set in case.in_force:
        cap = limit_set.max_orders_per_second
        if cap is not None and sent > cap:
            return _refuse(RejectCode.RISK_THROTTLE, f"{sent} new orders in one second from account {case.facts.account} "
                           f"is above the {scope} limit of {cap}", "max_orders_per_second", scope, cap, sent)
    return None


def _reference_price(case: Case) -> Reject | None:
    """A market price, fresh enough, whenever a rule needs one (market orders, collars)."""
    facts = case.facts
    needed = facts.ord_type is OrdType.MARKET or (
        facts.price is not None and any(s.price_collar_pct is not None for _, s in case.in_force)
    )
    if not needed:
        return None
    market = case.market
    if market is None:
        return _refuse(RejectCode.RISK_NO_REFERENCE_PRICE, f"no market price for {facts.symbol} to check the order against",
                       "reference_price")
    if case.now - market.ts > case.max_age_ns:
        age_ms = (case.now - market.ts) // 1_000_000
        return _refuse(RejectCode.RISK_STALE_REFERENCE_PRICE,
                       f"the market price for {facts.symbol} is {age_ms} ms old (at most {case.max_age_ns // 1_000_000} ms)",
                       "reference_price", limit=case.max_age_ns // 1_000_000, value=age_ms)
    return None


def _max_order_notional(case: Case) -> Reject | None:
    """At the limit price; a market order at the far touch; a stop at its stop price."""
    facts = case.facts
    if facts.price is not None:
        price = facts.price
    elif facts.ord_type is OrdType.MARKET:
        if case.market is None:
            return _reference_price(case)
        price = case.market.ask if facts.side.is_buy else case.market.bid
    elif facts.stop_price is not None:
        price = facts.stop_price
    else:
        return None
    notional = case.instrument.notional(facts.quantity, price)
    for scope, limit_set in case.in_force:
        cap = limit_set.max_order_notional
        if cap is not None and notional > cap:
            return _refuse(RejectCode.RISK_MAX_NOTIONAL,
                           f"notional {notional} {case.instrument.currency} is above the {scope} limit of {cap}",
                           "max_order_notional", scope, cap, notional)
    return None


def _price_collar(case: Case) -> Reject | None:
    """Only the aggressive side is collared: a buy far above or a sell far below the last trade."""
    facts, market = case.facts, case.market
    if facts.price is None or market is None:
        return None
    ref = market.price
    for scope, limit_set in case.in_force:
        pct = limit_set.price_collar_pct
        if pct is None:
            continue
        if facts.side.is_buy and facts.price > ref * (1 + pct / HUNDRED):
            bound = ref * (1 + pct / HUNDRED)
        elif not facts.side.is_buy and facts.price < ref * (1 - pct / HUNDRED):
            bound = ref * (1 - pct / HUNDRED)
        else:
            continue
        return _refuse(RejectCode.RISK_PRICE_COLLAR,
                       f"price {facts.price} is more than {pct}% through the reference {ref} (bound {bound.normalize()}, {scope})",
                       "price_collar_pct", scope, pct, facts.price)
    return None


Rule = Callable[[Case], Reject | None]

# In the order they run: the first refusal answers the order; what-if shows them all.
RULES: tuple[tuple[str, Rule], ...] = (
    ("restricted_list", _restricted_list),
    ("limits_configured", _limits_configured),
    ("max_order_quantity", _max_order_quantity),
    ("position_limits", _position_limits),
    ("duplicate_order", _duplicate_order),
    ("max_orders_per_second", _order_rate),
    ("reference_price", _reference_price),
    ("max_order_notional", _max_order_notional),
    ("price_collar_pct", _price_collar),
)


def applicable_rules(
    in_force: Sequence[tuple[str, LimitSet]], restricted: Mapping[str, frozenset[Symbol]]
) -> tuple[Callable[[Case], Reject | None], ...]:
    """The rules that can refuse anything under these limits (the rest are skipped on the hot path)."""
    def has(field: str) -> bool:
        return any(getattr(limit_set, field) is not None for _, limit_set in in_force)

    wanted = {
        "restricted_list": bool(restricted),
        "limits_configured": True,
        "max_order_quantity": has("max_order_quantity"),
        "position_limits": has("max_long_position") or has("max_short_position"),
        "duplicate_order": has("duplicate_window_ms"),
        "max_orders_per_second": has("max_orders_per_second"),
        "reference_price": True,
        "max_order_notional": has("max_order_notional"),
        "price_collar_pct": has("price_collar_pct"),
    }
    return tuple(rule for name, rule in RULES if wanted[name])


def evaluate(
    facts: OrderFacts,
    instrument: Instrument,
    scopes: Sequence[str],
    in_force: Sequence[tuple[str, LimitSet]],
    restricted: Mapping[str, frozenset[Symbol]],
    market: Reference | None,
    now: int,
    max_age_ns: int,
) -> Reject | None:
    case = Case(facts, instrument, scopes, in_force, restricted, market, now, max_age_ns)
    for _, rule in RULES:
        reject = rule(case)
        if reject is not None:
            return reject
    return None


def explain(case: Case) -> list[tuple[str, Reject | None]]:
    """Every rule's answer for one order (what-if); a rule that raises answers RISK_CHECK_FAILED."""
    results: list[tuple[str, Reject | None]] = []
    for name, rule in RULES:
        try:
            results.append((name, rule(case)))
        except Exception as exc:  # noqa: BLE001 - reported, like the live path's fail-closed answer
            results.append((name, Reject(RejectCode.RISK_CHECK_FAILED, f"could not be evaluated: {exc!r}", {"rule": name})))
    return results
