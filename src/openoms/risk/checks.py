"""The pre-trade checks. Pure: the caller passes the order, the limits in force, the market
reference and the time. Each refusal names the rule, the scope whose limit was hit, the limit
and the value, and the order is refused whenever a check cannot be evaluated (fail closed).

The limits in force are compiled per (account, trader) into an ``Effective`` (the tightest
value of each limit and its scope), so a rule reads one attribute; rules whose limits are not
set anywhere above the order are not run at all (``applicable_rules``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from ..domain.accounts import ReferenceData
from ..domain.book import NS_PER_DAY, AccountBook
from ..domain.gate import OrderFacts
from ..domain.ids import Symbol
from ..domain.instruments import AssetClass, Instrument
from ..domain.rejects import Reject, RejectCode
from ..domain.values import OrdType, Side
from .fx import FxRates
from .limits import Bound, Effective, LimitSet, set_bound

HUNDRED = Decimal(100)
CENT = Decimal("0.01")
PERCENT = Decimal("0.01")  # x% = x * 0.01: a multiplication, where dividing by 100 costs several times more
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Reference:
    """The market an order is judged against: top of book and last trade at ``ts`` (ns, UTC)."""

    bid: Decimal
    ask: Decimal
    last: Decimal
    ts: int
    halted: bool = False
    # The reference an order is judged against: the last trade, else the mid. Worked out once
    # per quote, not once per rule and order.
    price: Decimal = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "price", self.last if self.last > 0 else (self.bid + self.ask) / 2)


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


class Case:
    """One order in front of the rules, with everything they may look at."""

    __slots__ = ("_marked", "_own", "book", "currency", "facts", "fx", "instrument", "limits", "market", "max_age_ns", "now",
                 "prices", "reference", "restricted", "restricted_here", "scopes")

    def __init__(self, facts: OrderFacts, instrument: Instrument, scopes: Sequence[str], limits: Effective,
                 restricted: Mapping[str, frozenset[Symbol]], market: Reference | None, now: int, max_age_ns: int,
                 reference: ReferenceData, prices: PriceSource, fx: FxRates,
                 restricted_here: frozenset[Symbol] | None = None) -> None:
        self.facts = facts
        self.instrument = instrument
        self.scopes = scopes
        self.limits = limits
        self.restricted = restricted
        # Every symbol restricted at a scope above the order (the rule names the scope only on a hit).
        self.restricted_here = restricted_here if restricted_here is not None else frozenset(
            symbol for scope in scopes for symbol in restricted.get(scope, ()))
        self.market = market
        self.now = now
        self.max_age_ns = max_age_ns
        self.reference = reference
        self.prices = prices  # other instruments' marks (exposure and loss limits)
        self.fx = fx
        # An account with no order yet has an empty book.
        self.book = facts.book if facts.book is not None else AccountBook(facts.account)
        self._marked: tuple[Decimal, Decimal, Decimal] | None = None
        self._own: Decimal | None = None
        self.currency = reference.accounts[facts.account].currency

    def open_qty(self) -> Decimal:
        open_qty = self.facts.quantity - self.facts.already_filled
        return open_qty if open_qty > ZERO else ZERO

    def order_price(self) -> Decimal:
        """The price the order's notional is counted at: its limit, else its stop, else (market)
        the far touch."""
        facts = self.facts
        if facts.price is not None:
            return facts.price
        if facts.stop_price is not None:
            return facts.stop_price
        market = self.fresh_market()
        return market.ask if facts.side is Side.BUY else market.bid

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
        if currency == self.currency:
            return amount
        converted = self.fx.convert(amount, currency, self.currency)
        if converted is None:
            raise Refusal(_refuse(RejectCode.RISK_NO_FX_RATE, f"no FX rate from {currency} to {self.currency} "
                                  f"to count {rule} in account {self.facts.account}'s currency", rule,
                                  value=f"{currency}{self.currency}"))
        return converted

    def total(self, amounts: Mapping[str, Decimal], rule: str) -> Decimal:
        result = ZERO
        for ccy, amount in amounts.items():
            if amount:
                result += self.in_account_ccy(amount, ccy, rule)
        return result

    def working(self, side: int, rule: str) -> Decimal:
        """The account's working buys (side 0) or sells (1) at their prices, in the account currency."""
        result = ZERO
        for ccy, sides in self.book.working_notional.items():
            if sides[side]:
                result += self.in_account_ccy(sides[side], ccy, rule)
        return result

    def own_order_notional(self) -> Decimal:
        """This order's notional in the account currency (open quantity at its price)."""
        if self._own is None:
            self._own = self.in_account_ccy(self.instrument.notional(self.open_qty(), self.order_price()),
                                            self.instrument.currency, "notional")
        return self._own

    def own_previous(self) -> Decimal:
        """A replace: what the order counts for now (in account currency), to be taken out."""
        if not self.facts.own_notional:
            return ZERO
        return self.in_account_ccy(self.facts.own_notional, self.instrument.currency, "notional")

    def marked_positions(self, rule: str) -> tuple[Decimal, Decimal, Decimal]:
        """(gross, net, unrealized P&L) of the account's positions at market, in the account
        currency; worked out once per order however many rules ask."""
        if self._marked is None:
            gross = net = unrealized = ZERO
            instruments = self.reference.instruments
            for symbol, position in self.book.positions.items():
                if not position.quantity:
                    continue
                instrument = instruments[symbol]
                mark = self.mark_of(symbol, self.market if symbol == self.facts.symbol else None).price
                value = instrument.notional(position.quantity, mark)
                pnl = value - self.book.cost_notional[symbol]
                if instrument.currency != self.currency:
                    value = self.in_account_ccy(value, instrument.currency, rule)
                    pnl = self.in_account_ccy(pnl, instrument.currency, rule)
                gross += abs(value)
                net += value
                unrealized += pnl
            self._marked = (gross, net, unrealized)
        return self._marked


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
    """All checks for one order, from the raw limit tables (RiskGate caches the first steps)."""
    scopes = reference_data.scopes_of(facts.account, facts.trader)
    effective = Effective([(level, limits[scope]) for level, scope in enumerate(scopes) if scope in limits])
    case = Case(facts, instrument, scopes, effective, restricted, market, now, max_age_ns, reference_data,
                prices or (lambda symbol: market if symbol == facts.symbol else None), fx)
    for rule in applicable_rules(effective, restricted):
        reject = run_rule(rule, case)
        if reject is not None:
            return reject
    return None


# --- the rules ---------------------------------------------------------------------------------


def _restricted_list(case: Case) -> Reject | None:
    """The instrument itself or, for a derivative, its underlying, on a scope's restricted list."""
    listed_here = case.restricted_here
    underlying = case.instrument.underlying
    symbol = case.facts.symbol
    if symbol not in listed_here and underlying not in listed_here:
        return None  # on no list above the order: the common case, two lookups
    for scope in case.scopes:
        listed = case.restricted.get(scope)
        if listed is None:
            continue
        name = symbol if symbol in listed else underlying if underlying in listed else None
        if name is not None:
            return _refuse(RejectCode.RISK_RESTRICTED, f"{name} is on the restricted list of {scope}",
                           "restricted_list", scope, value=name)
    return None


def _limits_configured(case: Case) -> Reject | None:
    if case.limits.configured:
        return None
    return _refuse(RejectCode.RISK_NO_LIMITS, f"no risk limits are configured for account {case.facts.account} "
                   f"or anything above it ({', '.join(case.scopes)})", "limits_configured")


def _halted(case: Case) -> Reject | None:
    market = case.market
    if market is not None and market.halted:
        return _refuse(RejectCode.RISK_HALTED, f"trading in {case.facts.symbol} is halted", "halted", value=case.facts.symbol)
    return None


def _permissions(case: Case) -> Reject | None:
    limits = case.limits
    asset_class = case.instrument.asset_class.value
    if (limits.asset_classes_ok is None or asset_class in limits.asset_classes_ok) and (
            limits.venues_ok is None or case.facts.venue in limits.venues_ok):
        return None  # permitted everywhere: the common case, one lookup each
    for allowed, level in case.limits.allowed_asset_classes or ():
        scope = case.scopes[level]
        if asset_class not in allowed:
            names = ",".join(sorted(allowed))
            return _refuse(RejectCode.RISK_NOT_PERMITTED, f"{scope} may not trade {asset_class} (permitted: {names})",
                           "allowed_asset_classes", scope, names, asset_class)
    venue = case.facts.venue or ""
    for venues, level in case.limits.allowed_venues or ():
        scope = case.scopes[level]
        if venue not in venues:
            names = ",".join(sorted(venues))
            return _refuse(RejectCode.RISK_NOT_PERMITTED, f"{scope} may not trade on venue {venue} (permitted: {names})",
                           "allowed_venues", scope, names, venue)
    return None


def _trading_hours(case: Case) -> Reject | None:
    minute = (case.now // 60_000_000_000) % 1440
    for (start, end), level in case.limits.trading_hours_utc or ():
        scope = case.scopes[level]
        inside = start <= minute < end if start < end else (minute >= start or minute < end)
        if not inside:
            window = f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"
            now_text = f"{minute // 60:02d}:{minute % 60:02d}"
            return _refuse(RejectCode.RISK_TRADING_HOURS, f"{scope} trades {window} UTC; it is {now_text} UTC",
                           "trading_hours_utc", scope, window, now_text)
    return None


def _max_order_quantity(case: Case) -> Reject | None:
    quantity = case.facts.quantity
    cap, level = set_bound(case.limits.max_order_quantity)
    scope = case.scopes[level]
    if quantity > cap:
        return _refuse(RejectCode.RISK_MAX_QUANTITY, f"quantity {quantity} is above the {scope} limit of {cap}",
                       "max_order_quantity", scope, cap, quantity)
    return None


def _price_bounds(case: Case) -> Reject | None:
    facts, low, high = case.facts, case.limits.min_price, case.limits.max_price
    for what, price in (("price", facts.price), ("stop price", facts.stop_price)):
        if price is None:
            continue
        if low is not None and price < low.value:
            return _refuse(RejectCode.RISK_PRICE_BOUND, f"{what} {price} is below the {case.scopes[low.level]} minimum of {low.value}",
                           "min_price", case.scopes[low.level], low.value, price)
        if high is not None and price > high.value:
            return _refuse(RejectCode.RISK_PRICE_BOUND, f"{what} {price} is above the {case.scopes[high.level]} maximum of {high.value}",
                           "max_price", case.scopes[high.level], high.value, price)
    return None


def _pct_adv(case: Case) -> Reject | None:
    adv = case.instrument.average_daily_volume
    cap, level = set_bound(case.limits.max_pct_adv)
    scope = case.scopes[level]
    if not adv:
        return _refuse(RejectCode.RISK_NO_ADV, f"no average daily volume is known for {case.facts.symbol} "
                       f"to check the {scope} limit of {cap}% of ADV", "max_pct_adv", scope, cap)
    if case.facts.quantity * HUNDRED > cap * adv:  # multiply, not divide: this runs for every order
        pct = case.facts.quantity * HUNDRED / adv
        return _refuse(RejectCode.RISK_PCT_ADV, f"quantity {case.facts.quantity} is {pct.quantize(CENT)}% of the average "
                       f"daily volume {adv}, above the {scope} limit of {cap}%", "max_pct_adv", scope, cap, pct.quantize(CENT))
    return None


def _position_limits(case: Case) -> Reject | None:
    """Position limits count what is already working: an order counts the moment it is accepted."""
    facts = case.facts
    open_qty = case.open_qty()
    if facts.side is Side.BUY:
        bound = case.limits.max_long_position
        if bound is not None:
            projected = facts.position + facts.working_buys + open_qty
            if projected > bound.value:
                return _refuse(RejectCode.RISK_POSITION_LIMIT,
                               f"position {facts.position} + working buys {facts.working_buys} + {open_qty} = {projected} "
                               f"would exceed the {case.scopes[bound.level]} long limit of {bound.value}",
                               "max_long_position", case.scopes[bound.level], bound.value, projected)
        return None
    bound = case.limits.max_short_position
    if bound is not None:
        projected = facts.working_sells + open_qty - facts.position
        if projected > bound.value:
            return _refuse(RejectCode.RISK_POSITION_LIMIT,
                           f"position {facts.position} - working sells {facts.working_sells} - {open_qty} would be short "
                           f"{projected}, beyond the {case.scopes[bound.level]} short limit of {bound.value}",
                           "max_short_position", case.scopes[bound.level], bound.value, projected)
    return None


def _underlying(case: Case) -> Reject | None:
    """Positions per underlying: the instrument and every future/option on it, in units of the
    underlying (quantity x multiplier; a put counts against the opposite side), working orders
    included. Only the side the order adds to is counted."""
    facts, book, order_instrument = case.facts, case.book, case.instrument
    instruments = case.reference.instruments
    key = order_instrument.underlying_key
    grows_long = (facts.side is Side.BUY) == (order_instrument.exposure_sign > 0)
    projected = case.open_qty() * order_instrument.multiplier
    symbols = book.symbols if facts.symbol in book.symbols else (*book.symbols, facts.symbol)
    for symbol in symbols:
        instrument = instruments[symbol]
        if instrument.underlying_key != key:
            continue
        position = book.positions.get(symbol)
        held = position.quantity if position is not None else ZERO
        buys, sells = book.working_qty.get(symbol, (ZERO, ZERO))
        if symbol == facts.symbol and facts.is_replace:  # a replace is judged without its own working quantity
            buys, sells = (facts.working_buys, sells) if facts.side is Side.BUY else (buys, facts.working_sells)
        if instrument.exposure_sign < 0:  # a put: long puts are short the underlying
            held, buys, sells = -held, sells, buys
        units = held + buys if grows_long else sells - held
        projected += units if instrument.multiplier == 1 else units * instrument.multiplier
    bound = case.limits.max_long_underlying if grows_long else case.limits.max_short_underlying
    if bound is not None and projected > bound.value:
        side, beyond = ("long", "above") if grows_long else ("short", "beyond")
        return _refuse(RejectCode.RISK_POSITION_LIMIT, f"{side} {key} exposure would be {projected} (units of the "
                       f"underlying), {beyond} the {case.scopes[bound.level]} limit of {bound.value}", f"max_{side}_underlying",
                       case.scopes[bound.level], bound.value, projected)
    return None


def _short_sale(case: Case) -> Reject | None:
    """Reg SHO: a sale marked long must be covered by the long position (less other working
    sales); a short sale needs located borrow; short-exempt sales are marked and pass."""
    facts = case.facts
    side = facts.side
    if side is Side.BUY or side is Side.SELL_SHORT_EXEMPT or case.instrument.asset_class is not AssetClass.EQUITY:
        return None
    scope = case.scopes[set_bound(case.limits.short_sale_rules).level]
    open_qty = case.open_qty()
    if side is Side.SELL:
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


def _duplicate_order(case: Case) -> Reject | None:
    last = case.facts.last_identical_ts
    if last is None:
        return None
    window, level = set_bound(case.limits.duplicate_window_ms)
    scope = case.scopes[level]
    if case.now - last < window * 1_000_000:
        age_ms = (case.now - last) // 1_000_000
        return _refuse(RejectCode.RISK_DUPLICATE_ORDER,
                       f"an identical order (same side, instrument, quantity and price) was accepted {age_ms} ms ago; "
                       f"{scope} refuses duplicates within {window} ms", "duplicate_window_ms", scope, window, age_ms)
    return None


def throttle(sent_before: int, bound: Bound | None, scopes: Sequence[str], account: str, what: str,
             rule: str) -> Reject | None:
    """One message-rate limit (new orders, replaces, cancels): this message counted, per account."""
    sent = sent_before + 1
    if bound is None or sent <= bound.value:
        return None
    scope = scopes[bound.level]
    return _refuse(RejectCode.RISK_THROTTLE, f"{sent} {what} in one second from account {account} "
                   f"is above the {scope} limit of {bound.value}", rule, scope, bound.value, sent)


def _order_rate(case: Case) -> Reject | None:
    return throttle(case.facts.orders_last_second, case.limits.max_orders_per_second, case.scopes, case.facts.account,
                    "new orders", "max_orders_per_second")


def _replace_rate(case: Case) -> Reject | None:
    if not case.facts.is_replace:
        return None
    return throttle(case.facts.replaces_last_second, case.limits.max_replaces_per_second, case.scopes, case.facts.account,
                    "replace requests", "max_replaces_per_second")


def _order_to_trade(case: Case) -> Reject | None:
    """MiFID RTS 9 style: today's messages (new, replace, cancel) per fill, once there are enough."""
    book = case.book
    today = 0 <= case.now - book.day_start < NS_PER_DAY
    messages = (book.day_messages if today else 0) + 1
    fills = book.day_fills if today else 0
    cap, level = set_bound(case.limits.max_order_to_trade_ratio)
    scope = case.scopes[level]
    floor = case.limits.order_to_trade_min_messages
    if floor is not None and messages < floor.value:
        return None
    if messages > cap * (fills or 1):  # multiply, not divide: this runs for every order
        ratio = Decimal(messages) / (fills or 1)
        return _refuse(RejectCode.RISK_ORDER_TO_TRADE, f"{messages} messages for {fills} fills today is a ratio of "
                       f"{ratio.quantize(CENT)}, above the {scope} limit of {cap}", "max_order_to_trade_ratio", scope, cap,
                       ratio.quantize(CENT))
    return None


def _self_trade(case: Case) -> Reject | None:
    crossing = case.facts.crossing
    if not crossing:
        return None
    how, level = set_bound(case.limits.self_trade_prevention)
    scope = case.scopes[level]
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


def _reference_price(case: Case) -> Reject | None:
    """A market price, fresh enough, whenever a rule needs one (market orders, collars)."""
    facts = case.facts
    if facts.ord_type is OrdType.MARKET or (facts.price is not None and case.limits.collared):
        case.fresh_market()
    return None


def _max_order_notional(case: Case) -> Reject | None:
    """At the limit price; a market order at the far touch; a stop at its stop price."""
    facts = case.facts
    if facts.price is None and facts.stop_price is None and facts.ord_type is not OrdType.MARKET:
        return None
    notional = case.instrument.notional(facts.quantity, case.order_price())
    cap, level = set_bound(case.limits.max_order_notional)
    scope = case.scopes[level]
    if notional > cap:
        return _refuse(RejectCode.RISK_MAX_NOTIONAL, f"notional {notional} {case.instrument.currency} is above the {scope} "
                       f"limit of {cap}", "max_order_notional", scope, cap, notional)
    return None


def _price_collar(case: Case) -> Reject | None:
    """Only the aggressive side is collared: a buy far above or a sell far below the reference,
    by percent or by ticks."""
    facts, market = case.facts, case.market
    if facts.price is None or market is None:
        return None
    choice = case.limits.collar_reference
    ref = (market.bid + market.ask) / 2 if choice is not None and choice.value == "mid" else market.price
    for name, bound in (("price_collar_pct", case.limits.price_collar_pct), ("price_collar_ticks", case.limits.price_collar_ticks)):
        if bound is None:
            continue
        width = ref * bound.value * PERCENT if name == "price_collar_pct" else bound.value * case.instrument.tick_size
        if facts.side is Side.BUY:
            if facts.price <= ref + width:
                continue
            edge = ref + width
        else:
            if facts.price >= ref - width:
                continue
            edge = ref - width
        unit = "%" if name == "price_collar_pct" else " ticks"
        return _refuse(RejectCode.RISK_PRICE_COLLAR,
                       f"price {facts.price} is more than {bound.value}{unit} through the reference {ref} "
                       f"(bound {edge.normalize()}, {case.scopes[bound.level]})", name, case.scopes[bound.level], bound.value, facts.price)
    return None


def _credit(case: Case) -> Reject | None:
    """Buying power: what the account paid for its long positions plus every working buy at its
    price, counted the moment an order is accepted. Sales use none (shorts answer to the short
    position limits and locates); a buy that covers a short still counts (conservative)."""
    if case.facts.side is not Side.BUY:
        return None
    used = case.total(case.book.long_costs, "credit_limit") + case.working(0, "credit_limit") \
        - case.own_previous()
    projected = used + case.own_order_notional()
    cap, level = set_bound(case.limits.credit_limit)
    scope = case.scopes[level]
    if projected > cap:
        return _refuse(RejectCode.RISK_CREDIT_LIMIT,
                       f"buying power used {used} + this order {projected - used} = {projected} {case.currency} "
                       f"would exceed the {scope} credit limit of {cap}", "credit_limit", scope, cap, projected)
    return None


def _exposure(case: Case) -> Reject | None:
    """Gross and net exposure: positions at market plus working orders at their prices; an order
    that only reduces a position is never blocked by them."""
    facts = case.facts
    if facts.reduces_only:
        return None
    gross, net, _ = case.marked_positions("exposure")
    buys, sells = case.working(0, "exposure"), case.working(1, "exposure")
    own, previous = case.own_order_notional(), case.own_previous()
    gross_bound, net_bound = case.limits.max_gross_exposure, case.limits.max_net_exposure
    if gross_bound is not None:
        gross_after = gross + buys + sells - previous + own
        if gross_after > gross_bound.value:
            return _refuse(RejectCode.RISK_EXPOSURE_LIMIT, f"gross exposure would be {gross_after} {case.currency}, above the "
                           f"{case.scopes[gross_bound.level]} limit of {gross_bound.value}", "max_gross_exposure", case.scopes[gross_bound.level],
                           gross_bound.value, gross_after)
    if net_bound is not None:
        net_after = net + buys - sells + (1 if facts.side is Side.BUY else -1) * (own - previous)
        if abs(net_after) > net_bound.value:
            return _refuse(RejectCode.RISK_EXPOSURE_LIMIT, f"net exposure would be {net_after} {case.currency}, beyond the "
                           f"{case.scopes[net_bound.level]} limit of {net_bound.value}", "max_net_exposure", case.scopes[net_bound.level],
                           net_bound.value, net_after)
    return None


def _daily_loss(case: Case) -> Reject | None:
    """Once today's realized + unrealized loss reaches the limit, only reducing orders pass."""
    if case.facts.reduces_only:
        return None
    _, _, unrealized = case.marked_positions("max_daily_loss")
    book = case.book
    realized = case.total(book.day_realized, "max_daily_loss") if book.is_today(case.now) else ZERO
    loss = -(realized + unrealized)
    cap, level = set_bound(case.limits.max_daily_loss)
    scope = case.scopes[level]
    if loss >= cap:
        return _refuse(RejectCode.RISK_LOSS_LIMIT, f"today's loss is {loss} {case.currency} (realized {realized}, "
                       f"unrealized {unrealized}), at or beyond the {scope} limit of {cap}; only orders that reduce "
                       "a position are admitted", "max_daily_loss", scope, cap, loss)
    return None


Rule = Callable[[Case], Reject | None]


def run_rule(rule: Rule, case: Case) -> Reject | None:
    try:
        return rule(case)
    except Refusal as refusal:
        return refusal.reject


# In the order they run (cheap and decisive first): the first refusal answers the order; what-if
# shows them all. Each names the limits that switch it on; () means always on.
RULES: tuple[tuple[str, Rule, tuple[str, ...]], ...] = (
    ("restricted_list", _restricted_list, ()),
    ("limits_configured", _limits_configured, ()),
    ("halted", _halted, ()),
    ("permissions", _permissions, ("allowed_asset_classes", "allowed_venues")),
    ("trading_hours", _trading_hours, ("trading_hours_utc",)),
    ("max_order_quantity", _max_order_quantity, ("max_order_quantity",)),
    ("price_bounds", _price_bounds, ("min_price", "max_price")),
    ("max_pct_adv", _pct_adv, ("max_pct_adv",)),
    ("position_limits", _position_limits, ("max_long_position", "max_short_position")),
    ("underlying_limits", _underlying, ("max_long_underlying", "max_short_underlying")),
    ("short_sale_rules", _short_sale, ("short_sale_rules",)),
    ("duplicate_order", _duplicate_order, ("duplicate_window_ms",)),
    ("max_orders_per_second", _order_rate, ("max_orders_per_second",)),
    ("max_replaces_per_second", _replace_rate, ("max_replaces_per_second",)),
    ("order_to_trade_ratio", _order_to_trade, ("max_order_to_trade_ratio",)),
    ("self_trade_prevention", _self_trade, ("self_trade_prevention",)),
    ("reference_price", _reference_price, ()),
    ("max_order_notional", _max_order_notional, ("max_order_notional",)),
    ("price_collar", _price_collar, ("price_collar_pct", "price_collar_ticks")),
    ("credit_limit", _credit, ("credit_limit",)),
    ("exposure_limits", _exposure, ("max_gross_exposure", "max_net_exposure")),
    ("max_daily_loss", _daily_loss, ("max_daily_loss",)),
)


def applicable_rules(limits: Effective, restricted: Mapping[str, frozenset[Symbol]]) -> tuple[Rule, ...]:
    """The rules that can refuse anything under these limits (the rest are skipped on the hot path)."""
    return tuple(rule for name, rule, switches in RULES
                 if (name != "restricted_list" or restricted) and (not switches or limits.has(*switches)))


def explain(case: Case) -> list[tuple[str, Reject | None]]:
    """Every applicable rule's answer for one order (what-if); a rule that raises answers RISK_CHECK_FAILED."""
    results: list[tuple[str, Reject | None]] = []
    for name, rule, switches in RULES:
        if switches and not case.limits.has(*switches):
            results.append((name, None))
            continue
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

    def entry(name: str, used: Decimal) -> dict[str, str]:
        row = {"used": str(used)}
        bound = getattr(case.limits, name)
        if bound is not None:
            row.update(scope=case.scopes[bound.level], limit=str(bound.value), used_pct=str((used * HUNDRED / bound.value).quantize(CENT)))
        return row

    try:
        buys, sells = case.working(0, "usage"), case.working(1, "usage")
        usage["credit_limit"] = entry("credit_limit", case.total(book.long_costs, "usage") + buys)
        gross, net, unrealized = case.marked_positions("usage")
        usage["max_gross_exposure"] = entry("max_gross_exposure", gross + buys + sells)
        usage["max_net_exposure"] = entry("max_net_exposure", abs(net + buys - sells))
        realized = case.total(book.day_realized, "usage") if book.is_today(case.now) else ZERO
        usage["max_daily_loss"] = entry("max_daily_loss", max(-(realized + unrealized), ZERO))
        usage["daily_pnl"] = {"realized": str(realized), "unrealized": str(unrealized)}
    except Refusal as refusal:
        usage["unavailable"] = refusal.reject.message
    today = book.is_today(case.now)
    messages, fills = (book.day_messages, book.day_fills) if today else (0, 0)
    usage["order_to_trade"] = {"messages": messages, "fills": fills,
                               **entry("max_order_to_trade_ratio", (Decimal(messages) / max(fills, 1)).quantize(CENT))}
    usage["locates"] = {symbol: str(book.locate_available(symbol, case.now)) for symbol in sorted(book.locates)}
    return usage
