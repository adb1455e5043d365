"""The pre-trade checks. Pure: the caller passes the order, the limits in force, the market
reference and the time. Each refusal names the rule, the scope whose limit was hit, the limit
and the value, and the order is refused whenever a check cannot be evaluated (fail closed)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from ..domain.accounts import ReferenceData
from ..domain.book import AccountBook
from ..domain.gate import OrderFacts
from ..domain.ids import Symbol
from ..domain.instruments import AssetClass, Instrument
from ..domain.rejects import Reject, RejectCode
from ..domain.values import OrdType, Side
from .fx import FxRates
from .limits import LimitSet

HUNDRED = Decimal(100)
CENT = Decimal("0.01")


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


class Refusal(Exception):
    """Raised by a helper a rule needs (a mark, an FX rate) when it cannot answer: the order is refused."""

    def __init__(self, reject: Reject) -> None:
        super().__init__(reject.message)
        self.reject = reject


NO_FX = FxRates()


def check_order(
    facts: OrderFacts,
    instrument: Instrument,
    reference_data: ReferenceData,
    limits: Mapping[str, LimitSet],
    restricted: Mapping[str, frozenset[Symbol]],
    market: Reference | None,
    now: int,
    max_age_ns: int,
    prices: PriceSource | None = None,
    fx: FxRates = NO_FX,
) -> Reject | None:
    """All checks for one order, from the raw limit tables (RiskGate caches the first two steps)."""
    scopes = reference_data.scopes_of(facts.account, facts.trader)
    in_force = tuple((scope, limits[scope]) for scope in scopes if scope in limits)
    case = Case(facts, instrument, scopes, in_force, restricted, market, now, max_age_ns, reference_data,
                prices or (lambda symbol: market if symbol == facts.symbol else None), fx)
    for _, rule in RULES:
        reject = run_rule(rule, case)
        if reject is not None:
            return reject
    return None


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
    reference: ReferenceData
    prices: PriceSource  # other instruments' marks (exposure and loss limits)
    fx: FxRates

    @property
    def book(self) -> AccountBook:
        """The account's book; an account with no order yet has an empty one."""
        return self.facts.book if self.facts.book is not None else AccountBook(self.facts.account)

    @property
    def currency(self) -> str:
        return self.reference.accounts[self.facts.account].currency

    def open_qty(self) -> Decimal:
        return max(self.facts.quantity - self.facts.already_filled, Decimal(0))

    def order_price(self) -> Decimal:
        """The price the order's notional is counted at: its limit, else its stop, else (market)
        the far touch."""
        facts = self.facts
        if facts.price is not None:
            return facts.price
        if facts.stop_price is not None:
            return facts.stop_price
        market = self.fresh_market()
        return market.ask if facts.side.is_buy else market.bid

    def fresh_market(self) -> Reference:
        return self.mark_of(self.facts.symbol, self.market)

    def mark_of(self, symbol: Symbol, market: Reference | None = None) -> Reference:
        market = market if market is not None else self.prices(symbol)
        if market is None:
            raise Refusal(_refuse(RejectCode.RISK_NO_REFERENCE_PRICE, f"no market price for {symbol} to check the order against",
                                  "reference_price", value=symbol))
        if self.now - market.ts > self.max_age_ns:
            age_ms = (self.now - market.ts) // 1_000_000
            raise Refusal(_refuse(RejectCode.RISK_STALE_REFERENCE_PRICE,
                                  f"the market price for {symbol} is {age_ms} ms old (at most {self.max_age_ns // 1_000_000} ms)",
                                  "reference_price", limit=self.max_age_ns // 1_000_000, value=age_ms))
        return market

    def in_account_ccy(self, amount: Decimal, currency: str, rule: str) -> Decimal:
        converted = self.fx.convert(amount, currency, self.currency)
        if converted is None:
            raise Refusal(_refuse(RejectCode.RISK_NO_FX_RATE, f"no FX rate from {currency} to {self.currency} "
                                  f"to count {rule} in account {self.facts.account}'s currency", rule,
                                  value=f"{currency}{self.currency}"))
        return converted

    def total(self, amounts: Mapping[str, Decimal], rule: str) -> Decimal:
        return sum((self.in_account_ccy(amount, ccy, rule) for ccy, amount in amounts.items()), Decimal(0))

    def own_order_notional(self) -> Decimal:
        """This order's notional in the account currency (open quantity at its price)."""
        return self.in_account_ccy(self.instrument.notional(self.open_qty(), self.order_price()), self.instrument.currency,
                                   "notional")

    def own_previous(self) -> Decimal:
        """A replace: what the order counts for now (in account currency), to be taken out."""
        if not self.facts.own_notional:
            return Decimal(0)
        return self.in_account_ccy(self.facts.own_notional, self.instrument.currency, "notional")


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
        facts.price is not None and any(s.price_collar_pct is not None or s.price_collar_ticks is not None
                                        for _, s in case.in_force)
    )
    if needed:
        case.fresh_market()
    return None


def _halted(case: Case) -> Reject | None:
    market = case.market
    if market is not None and market.halted:
        return _refuse(RejectCode.RISK_HALTED, f"trading in {case.facts.symbol} is halted", "halted", value=case.facts.symbol)
    return None


def _permissions(case: Case) -> Reject | None:
    asset_class = case.instrument.asset_class.value
    venue = case.facts.venue or ""
    for scope, limit_set in case.in_force:
        allowed = limit_set.allowed_asset_classes
        if allowed is not None and asset_class not in allowed:
            return _refuse(RejectCode.RISK_NOT_PERMITTED, f"{scope} may not trade {asset_class} "
                           f"(permitted: {', '.join(sorted(allowed))})", "allowed_asset_classes", scope, ",".join(sorted(allowed)),
                           asset_class)
        venues = limit_set.allowed_venues
        if venues is not None and venue not in venues:
            return _refuse(RejectCode.RISK_NOT_PERMITTED, f"{scope} may not trade on venue {venue} "
                           f"(permitted: {', '.join(sorted(venues))})", "allowed_venues", scope, ",".join(sorted(venues)), venue)
    return None


def _trading_hours(case: Case) -> Reject | None:
    minute = (case.now // 60_000_000_000) % 1440
    for scope, limit_set in case.in_force:
        hours = limit_set.trading_hours_utc
        if hours is None:
            continue
        start, end = hours
        inside = start <= minute < end if start < end else (minute >= start or minute < end)
        if not inside:
            window = limit_set.as_text()["trading_hours_utc"]
            now_text = f"{minute // 60:02d}:{minute % 60:02d}"
            return _refuse(RejectCode.RISK_TRADING_HOURS, f"{scope} trades {window} UTC; it is {now_text} UTC",
                           "trading_hours_utc", scope, window, now_text)
    return None


def _price_bounds(case: Case) -> Reject | None:
    facts = case.facts
    for what, price in (("price", facts.price), ("stop price", facts.stop_price)):
        if price is None:
            continue
        for scope, limit_set in case.in_force:
            if limit_set.min_price is not None and price < limit_set.min_price:
                return _refuse(RejectCode.RISK_PRICE_BOUND, f"{what} {price} is below the {scope} minimum of {limit_set.min_price}",
                               "min_price", scope, limit_set.min_price, price)
            if limit_set.max_price is not None and price > limit_set.max_price:
                return _refuse(RejectCode.RISK_PRICE_BOUND, f"{what} {price} is above the {scope} maximum of {limit_set.max_price}",
                               "max_price", scope, limit_set.max_price, price)
    return None


def _pct_adv(case: Case) -> Reject | None:
    adv = case.instrument.average_daily_volume
    for scope, limit_set in case.in_force:
        cap = limit_set.max_pct_adv
        if cap is None:
            continue
        if not adv:
            return _refuse(RejectCode.RISK_NO_ADV, f"no average daily volume is known for {case.facts.symbol} "
                           f"to check the {scope} limit of {cap}% of ADV", "max_pct_adv", scope, cap)
        pct = case.facts.quantity * HUNDRED / adv
        if pct > cap:
            return _refuse(RejectCode.RISK_PCT_ADV, f"quantity {case.facts.quantity} is {pct.quantize(CENT)}% of the average "
                           f"daily volume {adv}, above the {scope} limit of {cap}%", "max_pct_adv", scope, cap, pct.quantize(CENT))
    return None


def _credit(case: Case) -> Reject | None:
    """Buying power: what the account paid for its long positions plus every working buy at its
    price, counted the moment an order is accepted. Sales use none (shorts answer to the short
    position limits and locates); a buy that covers a short still counts (conservative)."""
    facts, book = case.facts, case.book
    if not facts.side.is_buy:
        return None
    cost = book.long_cost(case.reference.instruments)
    buys = {ccy: sides[0] for ccy, sides in book.working_notional.items() if sides[0]}
    used = case.total(cost, "credit_limit") + case.total(buys, "credit_limit") - case.own_previous()
    projected = used + case.own_order_notional()
    for scope, limit_set in case.in_force:
        cap = limit_set.credit_limit
        if cap is not None and projected > cap:
            return _refuse(RejectCode.RISK_CREDIT_LIMIT,
                           f"buying power used {used} + this order {projected - used} = {projected} {case.currency} "
                           f"would exceed the {scope} credit limit of {cap}", "credit_limit", scope, cap, projected)
    return None


def _marked_positions(case: Case, rule: str) -> tuple[Decimal, Decimal, Decimal]:
    """(gross, net, unrealized P&L) of the account's positions at market, in the account currency."""
    book = case.book
    gross = net = unrealized = Decimal(0)
    instruments = case.reference.instruments
    for symbol, position in book.positions.items():
        if not position.quantity:
            continue
        instrument = instruments[symbol]
        mark = case.mark_of(symbol, case.market if symbol == case.facts.symbol else None).price
        value = case.in_account_ccy(instrument.notional(position.quantity, mark), instrument.currency, rule)
        gross += abs(value)
        net += value
        unrealized += case.in_account_ccy(instrument.notional(Decimal(1), position.quantity * mark - position.cost),
                                          instrument.currency, rule)
    return gross, net, unrealized


def _exposure(case: Case) -> Reject | None:
    """Gross and net exposure: positions at market plus working orders at their prices; an order
    that only reduces a position is never blocked by them."""
    facts, book = case.facts, case.book
    if facts.reduces_only:
        return None
    gross, net, _ = _marked_positions(case, "exposure")
    buys = case.total({c: s[0] for c, s in book.working_notional.items() if s[0]}, "exposure")
    sells = case.total({c: s[1] for c, s in book.working_notional.items() if s[1]}, "exposure")
    own = case.own_order_notional()
    previous = case.own_previous()
    signed = 1 if facts.side.is_buy else -1
    gross_after = gross + buys + sells - previous + own
    net_after = net + buys - sells + signed * (own - previous)
    for scope, limit_set in case.in_force:
        if limit_set.max_gross_exposure is not None and gross_after > limit_set.max_gross_exposure:
            return _refuse(RejectCode.RISK_EXPOSURE_LIMIT, f"gross exposure would be {gross_after} {case.currency}, above the "
                           f"{scope} limit of {limit_set.max_gross_exposure}", "max_gross_exposure", scope,
                           limit_set.max_gross_exposure, gross_after)
        if limit_set.max_net_exposure is not None and abs(net_after) > limit_set.max_net_exposure:
            return _refuse(RejectCode.RISK_EXPOSURE_LIMIT, f"net exposure would be {net_after} {case.currency}, beyond the "
                           f"{scope} limit of {limit_set.max_net_exposure}", "max_net_exposure", scope,
                           limit_set.max_net_exposure, net_after)
    return None


def _daily_loss(case: Case) -> Reject | None:
    """Once today's realized + unrealized loss reaches the limit, only reducing orders pass."""
    facts, book = case.facts, case.book
    if facts.reduces_only:
        return None
    _, _, unrealized = _marked_positions(case, "max_daily_loss")
    realized = case.total(book.day_realized, "max_daily_loss")
    loss = -(realized + unrealized)
    for scope, limit_set in case.in_force:
        cap = limit_set.max_daily_loss
        if cap is not None and loss >= cap:
            return _refuse(RejectCode.RISK_LOSS_LIMIT, f"today's loss is {loss} {case.currency} (realized {realized}, "
                           f"unrealized {unrealized}), at or beyond the {scope} limit of {cap}; only orders that reduce "
                           "a position are admitted", "max_daily_loss", scope, cap, loss)
    return None


def _underlying(case: Case) -> Reject | None:
    """Positions per underlying: the instrument and every future/option on it, in units of the
    underlying (quantity x multiplier; a put counts against the opposite side), working orders
    included."""
    facts, book = case.facts, case.book
    instruments = case.reference.instruments
    key = case.instrument.underlying or facts.symbol
    long_side = short_side = Decimal(0)
    for symbol in book.symbols | {facts.symbol}:
        instrument = instruments[symbol]
        if (instrument.underlying or symbol) != key:
            continue
        direction = -1 if instrument.put_call == "put" else 1
        position = book.positions.get(symbol)
        held = position.quantity * instrument.multiplier * direction if position is not None else Decimal(0)
        buys, sells = book.working_qty.get(symbol, (Decimal(0), Decimal(0)))
        if symbol == facts.symbol and facts.is_replace:  # a replace is judged without its own working quantity
            buys, sells = (facts.working_buys, sells) if facts.side.is_buy else (buys, facts.working_sells)
        up, down = (buys, sells) if direction > 0 else (sells, buys)
        long_side += held + up * instrument.multiplier
        short_side += -held + down * instrument.multiplier
    direction = -1 if case.instrument.put_call == "put" else 1
    adds = case.open_qty() * case.instrument.multiplier
    grows_long = facts.side.is_buy == (direction > 0)
    for scope, limit_set in case.in_force:
        if grows_long and limit_set.max_long_underlying is not None and long_side + adds > limit_set.max_long_underlying:
            return _refuse(RejectCode.RISK_POSITION_LIMIT, f"long {key} exposure would be {long_side + adds} (units of the "
                           f"underlying), above the {scope} limit of {limit_set.max_long_underlying}", "max_long_underlying",
                           scope, limit_set.max_long_underlying, long_side + adds)
        if not grows_long and limit_set.max_short_underlying is not None and short_side + adds > limit_set.max_short_underlying:
            return _refuse(RejectCode.RISK_POSITION_LIMIT, f"short {key} exposure would be {short_side + adds} (units of the "
                           f"underlying), beyond the {scope} limit of {limit_set.max_short_underlying}", "max_short_underlying",
                           scope, limit_set.max_short_underlying, short_side + adds)
    return None


def _short_sale(case: Case) -> Reject | None:
    """Reg SHO: a sale marked long must be covered by the long position (less other working
    sales); a short sale needs located borrow; short-exempt sales are marked and pass."""
    facts = case.facts
    if facts.side.is_buy or facts.side is Side.SELL_SHORT_EXEMPT or case.instrument.asset_class is not AssetClass.EQUITY:
        return None
    scope = next((scope for scope, limit_set in case.in_force if limit_set.short_sale_rules), None)
    if scope is None:
        return None
    open_qty = case.open_qty()
    if facts.side is Side.SELL:
        covered = facts.position - facts.working_sells
        if open_qty > covered:
            return _refuse(RejectCode.RISK_SHORT_SALE, f"a sale of {open_qty} marked long is not covered: position "
                           f"{facts.position} less working sales {facts.working_sells} leaves {covered}; mark it sell_short "
                           "(with a locate) or sell_short_exempt", "short_sale_rules", scope, covered, open_qty)
        return None
    if open_qty > facts.locate_available:
        return _refuse(RejectCode.RISK_NO_LOCATE, f"a short sale of {open_qty} {facts.symbol} needs a locate; "
                       f"{facts.locate_available} is located and unused", "short_sale_rules", scope, facts.locate_available,
                       open_qty)
    return None


def _replace_rate(case: Case) -> Reject | None:
    if not case.facts.is_replace:
        return None
    sent = case.facts.replaces_last_second + 1
    for scope, limit_set in case.in_force:
        cap = limit_set.max_replaces_per_second
        if cap is not None and sent > cap:
            return _refuse(RejectCode.RISK_THROTTLE, f"{sent} replace requests in one second from account {case.facts.account} "
                           f"is above the {scope} limit of {cap}", "max_replaces_per_second", scope, cap, sent)
    return None


def _order_to_trade(case: Case) -> Reject | None:
    """MiFID RTS 9 style: today's messages (new, replace, cancel) per fill, once there are enough."""
    book = case.book
    today = book.is_today(case.now)
    messages = (book.day_messages if today else 0) + 1
    fills = book.day_fills if today else 0
    ratio = Decimal(messages) / max(fills, 1)
    for scope, limit_set in case.in_force:
        cap = limit_set.max_order_to_trade_ratio
        floor = limit_set.order_to_trade_min_messages or Decimal(0)
        if cap is not None and messages >= floor and ratio > cap:
            return _refuse(RejectCode.RISK_ORDER_TO_TRADE, f"{messages} messages for {fills} fills today is a ratio of "
                           f"{ratio.quantize(CENT)}, above the {scope} limit of {cap}", "max_order_to_trade_ratio", scope, cap,
                           ratio.quantize(CENT))
    return None


def stp_policy(case: Case) -> tuple[str, str] | None:
    """(scope, policy) of the self-trade prevention in force; reject_incoming wins over cancel_resting."""
    found = None
    for scope, limit_set in case.in_force:
        policy = limit_set.self_trade_prevention
        if policy == "reject_incoming":
            return scope, policy
        if policy is not None and found is None:
            found = (scope, policy)
    return found


def _self_trade(case: Case) -> Reject | None:
    crossing = case.facts.crossing
    if not crossing:
        return None
    policy = stp_policy(case)
    if policy is None:
        return None
    scope, how = policy
    ids = ", ".join(order_id for order_id, _, _ in crossing)
    if how == "reject_incoming":
        return _refuse(RejectCode.RISK_SELF_TRADE, f"the order would trade against resting order(s) {ids} of the same "
                       f"beneficial owner ({scope} rejects the incoming order)", "self_trade_prevention", scope, how, ids)
    busy = [order_id for order_id, _, pending in crossing if pending]
    if busy:
        return _refuse(RejectCode.RISK_SELF_TRADE, f"the order would trade against resting order(s) {', '.join(busy)} of the "
                       f"same beneficial owner, which have a request pending and cannot be canceled first",
                       "self_trade_prevention", scope, how, ", ".join(busy))
    return None


def _max_order_notional(case: Case) -> Reject | None:
    """At the limit price; a market order at the far touch; a stop at its stop price."""
    facts = case.facts
    if facts.price is None and facts.stop_price is None and facts.ord_type is not OrdType.MARKET:
        return None
    notional = case.instrument.notional(facts.quantity, case.order_price())
    for scope, limit_set in case.in_force:
        cap = limit_set.max_order_notional
        if cap is not None and notional > cap:
            return _refuse(RejectCode.RISK_MAX_NOTIONAL,
                           f"notional {notional} {case.instrument.currency} is above the {scope} limit of {cap}",
                           "max_order_notional", scope, cap, notional)
    return None


def _price_collar(case: Case) -> Reject | None:
    """Only the aggressive side is collared: a buy far above or a sell far below the reference,
    by percent or by ticks."""
    facts, market = case.facts, case.market
    if facts.price is None or market is None:
        return None
    ref = market.price
    tick = case.instrument.tick_size
    for scope, limit_set in case.in_force:
        for name, width in (("price_collar_pct", None if limit_set.price_collar_pct is None else ref * limit_set.price_collar_pct / HUNDRED),
                            ("price_collar_ticks", None if limit_set.price_collar_ticks is None else limit_set.price_collar_ticks * tick)):
            if width is None:
                continue
            if facts.side.is_buy and facts.price > ref + width:
                bound = ref + width
            elif not facts.side.is_buy and facts.price < ref - width:
                bound = ref - width
            else:
                continue
            unit = "%" if name == "price_collar_pct" else " ticks"
            setting = getattr(limit_set, name)
            return _refuse(RejectCode.RISK_PRICE_COLLAR,
                           f"price {facts.price} is more than {setting}{unit} through the reference {ref} "
                           f"(bound {bound.normalize()}, {scope})", name, scope, setting, facts.price)
    return None


def run_rule(rule: Rule, case: Case) -> Reject | None:
    try:
        return rule(case)
    except Refusal as refusal:
        return refusal.reject


Rule = Callable[[Case], Reject | None]

# In the order they run: the first refusal answers the order; what-if shows them all.
RULES: tuple[tuple[str, Rule], ...] = (
    ("restricted_list", _restricted_list),
    ("limits_configured", _limits_configured),
    ("halted", _halted),
    ("permissions", _permissions),
    ("trading_hours", _trading_hours),
    ("max_order_quantity", _max_order_quantity),
    ("price_bounds", _price_bounds),
    ("max_pct_adv", _pct_adv),
    ("position_limits", _position_limits),
    ("underlying_limits", _underlying),
    ("short_sale_rules", _short_sale),
    ("duplicate_order", _duplicate_order),
    ("max_orders_per_second", _order_rate),
    ("max_replaces_per_second", _replace_rate),
    ("order_to_trade_ratio", _order_to_trade),
    ("self_trade_prevention", _self_trade),
    ("reference_price", _reference_price),
    ("max_order_notional", _max_order_notional),
    ("price_collar", _price_collar),
    ("credit_limit", _credit),
    ("exposure_limits", _exposure),
    ("max_daily_loss", _daily_loss),
)


def applicable_rules(
    in_force: Sequence[tuple[str, LimitSet]], restricted: Mapping[str, frozenset[Symbol]]
) -> tuple[Callable[[Case], Reject | None], ...]:
    """The rules that can refuse anything under these limits (the rest are skipped on the hot path)."""
    def has(*names: str) -> bool:
        return any(limit_set.sets(name) for _, limit_set in in_force for name in names)

    wanted = {
        "restricted_list": bool(restricted),
        "limits_configured": True,
        "halted": True,
        "permissions": has("allowed_asset_classes", "allowed_venues"),
        "trading_hours": has("trading_hours_utc"),
        "max_order_quantity": has("max_order_quantity"),
        "price_bounds": has("min_price", "max_price"),
        "max_pct_adv": has("max_pct_adv"),
        "position_limits": has("max_long_position", "max_short_position"),
        "underlying_limits": has("max_long_underlying", "max_short_underlying"),
        "short_sale_rules": has("short_sale_rules"),
        "duplicate_order": has("duplicate_window_ms"),
        "max_orders_per_second": has("max_orders_per_second"),
        "max_replaces_per_second": has("max_replaces_per_second"),
        "order_to_trade_ratio": has("max_order_to_trade_ratio"),
        "self_trade_prevention": has("self_trade_prevention"),
        "reference_price": True,
        "max_order_notional": has("max_order_notional"),
        "price_collar": has("price_collar_pct", "price_collar_ticks"),
        "credit_limit": has("credit_limit"),
        "exposure_limits": has("max_gross_exposure", "max_net_exposure"),
        "max_daily_loss": has("max_daily_loss"),
    }
    return tuple(rule for name, rule in RULES if wanted[name])


def explain(case: Case) -> list[tuple[str, Reject | None]]:
    """Every rule's answer for one order (what-if); a rule that raises answers RISK_CHECK_FAILED."""
    results: list[tuple[str, Reject | None]] = []
    for name, rule in RULES:
        try:
            results.append((name, run_rule(rule, case)))
        except Exception as exc:  # noqa: BLE001 - reported, like the live path's fail-closed answer
            results.append((name, Reject(RejectCode.RISK_CHECK_FAILED, f"could not be evaluated: {exc!r}", {"rule": name})))
    return results


def account_usage(case: Case) -> dict[str, object]:
    """How much of each account-wide limit the account uses now (``case.facts`` is only the
    account: its quantity is zero), for the usage endpoint and the blotter's risk panel."""
    book = case.book
    usage: dict[str, object] = {"account": case.facts.account, "currency": case.currency}

    def tightest(name: str) -> tuple[str, Decimal] | None:
        found = [(scope, getattr(limit_set, name)) for scope, limit_set in case.in_force if getattr(limit_set, name) is not None]
        return min(found, key=lambda item: item[1]) if found else None

    def entry(name: str, used: Decimal) -> dict[str, str]:
        row = {"used": str(used)}
        limit = tightest(name)
        if limit is not None:
            row.update(scope=limit[0], limit=str(limit[1]), used_pct=str((used * HUNDRED / limit[1]).quantize(CENT)))
        return row

    try:
        buys = case.total({c: s[0] for c, s in book.working_notional.items() if s[0]}, "usage")
        sells = case.total({c: s[1] for c, s in book.working_notional.items() if s[1]}, "usage")
        usage["credit_limit"] = entry("credit_limit", case.total(book.long_cost(case.reference.instruments), "usage") + buys)
        gross, net, unrealized = _marked_positions(case, "usage")
        usage["max_gross_exposure"] = entry("max_gross_exposure", gross + buys + sells)
        usage["max_net_exposure"] = entry("max_net_exposure", abs(net + buys - sells))
        realized = case.total(book.day_realized, "usage") if book.is_today(case.now) else Decimal(0)
        usage["max_daily_loss"] = entry("max_daily_loss", max(-(realized + unrealized), Decimal(0)))
        usage["daily_pnl"] = {"realized": str(realized), "unrealized": str(unrealized)}
    except Refusal as refusal:
        usage["unavailable"] = refusal.reject.message
    today = book.is_today(case.now)
    messages, fills = (book.day_messages, book.day_fills) if today else (0, 0)
    usage["order_to_trade"] = {"messages": messages, "fills": fills,
                               **entry("max_order_to_trade_ratio", (Decimal(messages) / max(fills, 1)).quantize(CENT))}
    usage["locates"] = {symbol: str(book.locate_available(symbol, case.now)) for symbol in sorted(book.locates)}
    return usage
