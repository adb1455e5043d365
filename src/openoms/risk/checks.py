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


PriceSource = Callable[[Symbol], Reference | None]


def scopes_of(facts: OrderFacts, reference: ReferenceData) -> list[str]:
    """The hierarchy above an order, widest first."""
    scopes = []
    account = reference.accounts.get(facts.account)
    if account is not None:
        desk = reference.desks.get(account.desk_id)
        if desk is not None:
            scopes.append(f"firm:{desk.firm_id}")
        scopes.append(f"desk:{account.desk_id}")
    scopes += [f"trader:{facts.trader}", f"account:{facts.account}"]
    return scopes


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
    scopes = scopes_of(facts, reference_data)
    in_force = tuple((scope, limits[scope]) for scope in scopes if scope in limits)
    return evaluate(facts, instrument, scopes, in_force, restricted, market, now, max_age_ns)


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
    # Restricted lists: the instrument itself or, for a derivative, its underlying.
    if restricted:
        names = {facts.symbol} | ({instrument.underlying} if instrument.underlying else set())
        for scope in scopes:
            hit = names & restricted.get(scope, frozenset())
            if hit:
                name = sorted(hit)[0]
                return _refuse(RejectCode.RISK_RESTRICTED, f"{name} is on the restricted list of {scope}",
                               "restricted_list", scope, value=name)

    if not in_force:
        return _refuse(RejectCode.RISK_NO_LIMITS, f"no risk limits are configured for account {facts.account} "
                       f"or anything above it ({', '.join(scopes)})", "limits_configured")

    for scope, limit_set in in_force:
        cap = limit_set.max_order_quantity
        if cap is not None and facts.quantity > cap:
            return _refuse(RejectCode.RISK_MAX_QUANTITY, f"quantity {facts.quantity} is above the {scope} limit of {cap}",
                           "max_order_quantity", scope, cap, facts.quantity)

    # Position limits count what is already working: an order counts the moment it is accepted.
    open_qty = max(facts.quantity - facts.already_filled, Decimal(0))
    for scope, limit_set in in_force:
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

    # The price the order may trade at: its limit, else the far touch (market), else its stop.
    needs_market = facts.ord_type is OrdType.MARKET or (
        facts.price is not None and any(s.price_collar_pct is not None for _, s in in_force)
    )
    if needs_market:
        if market is None:
            return _refuse(RejectCode.RISK_NO_REFERENCE_PRICE, f"no market price for {facts.symbol} to check the order against",
                           "reference_price")
        if now - market.ts > max_age_ns:
            age_ms = (now - market.ts) // 1_000_000
            return _refuse(RejectCode.RISK_STALE_REFERENCE_PRICE,
                           f"the market price for {facts.symbol} is {age_ms} ms old (at most {max_age_ns // 1_000_000} ms)",
                           "reference_price", limit=max_age_ns // 1_000_000, value=age_ms)
    if facts.price is not None:
        price = facts.price
    elif facts.ord_type is OrdType.MARKET:
        assert market is not None
        price = market.ask if facts.side.is_buy else market.bid
    else:
        assert facts.stop_price is not None
        price = facts.stop_price

    notional = instrument.notional(facts.quantity, price)
    for scope, limit_set in in_force:
        cap = limit_set.max_order_notional
        if cap is not None and notional > cap:
            return _refuse(RejectCode.RISK_MAX_NOTIONAL,
                           f"notional {notional} {instrument.currency} is above the {scope} limit of {cap}",
                           "max_order_notional", scope, cap, notional)

    if facts.price is not None and market is not None:
        ref = market.last if market.last > 0 else (market.bid + market.ask) / 2
        for scope, limit_set in in_force:
            pct = limit_set.price_collar_pct
            if pct is None:
                continue
            # Only the aggressive side is collared: a buy far above or a sell far below the market.
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
