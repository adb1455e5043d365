"""The router the engine asks where an order goes (``openoms.domain.routing.OrderRouter``).

It reads the rule set, venue terms and health, and the per-venue market data; it decides
nothing the journal cannot explain: every answer names the rule that chose and why, and the
engine journals it. Stale, halted or crossed market data never drives a smart-routing decision:
such venues are left out, and when nothing usable is left the decision falls back to the rules
and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from decimal import Decimal

from ..domain import events as ev
from ..domain.ids import AccountId, Symbol, VenueId
from ..domain.instruments import Instrument
from ..domain.rejects import Reject, RejectCode
from ..domain.routing import RoutingDecision, RoutingQuery
from ..marketdata.consolidated import ConsolidatedBook
from .rules import RoutingError, RuleSet, parse
from .smart import VenueDepth, allocate
from .venues import VenueHealth, VenueSpec, VenueState

ZERO = Decimal(0)


class FillStats:
    """Routed and filled quantity per venue: the SOR's historical fill rate."""

    def __init__(self) -> None:
        self.routed: dict[VenueId, Decimal] = {}
        self.filled: dict[VenueId, Decimal] = {}

    def rate(self, venue: VenueId) -> Decimal:
        routed = self.routed.get(venue)
        if not routed:
            return Decimal(1)
        return min(Decimal(1), self.filled.get(venue, ZERO) / routed)


class Router:
    def __init__(
        self,
        instruments: Mapping[Symbol, Instrument],
        accounts: Collection[AccountId],
        venues: Sequence[VenueSpec],
        known_venues: Collection[VenueId],
        health: VenueHealth,
        book: ConsolidatedBook | None = None,
        max_age_ns: int = 2_000_000_000,
        rules: RuleSet | None = None,
        connected: Callable[[VenueId], bool] | None = None,
    ) -> None:
        self.instruments = instruments
        self.accounts = accounts
        self.known = frozenset(known_venues)
        self.specs: dict[VenueId, VenueSpec] = {spec.venue_id: spec for spec in venues}
        self.health = health
        self.book = book
        self.max_age_ns = max_age_ns
        self.rules = rules or RuleSet()
        self.rules_text = self.rules.text
        self.connected = connected
        self.fills = FillStats()

    # --- OrderRouter ------------------------------------------------------------------------

    def plain_default(self, instrument: Instrument, quantity: Decimal, now: int) -> VenueId | None:
        if self.rules.rules:
            return None
        venues = self.rules.default_venues or instrument.venues
        if not venues:
            return None
        venue = venues[0]
        if (self.connected is not None and not self.connected(venue)) or (
                self.health.states and self.health.state(venue) is not VenueState.UP):
            return None
        spec = self.specs.get(venue)
        if spec is not None and (not spec.trades(instrument.symbol) or not spec.is_open(now) or quantity % spec.round_lot):
            return None
        return venue

    def route(self, query: RoutingQuery, now: int) -> RoutingDecision:
        instrument = query.instrument
        asked = query.strategy
        if asked and asked != "sor":
            return self._explicit(VenueId(asked), query, now)
        rule = self.rules.match(instrument, query.account, query.quantity, now) if self.rules.rules else None
        name = rule.name if rule is not None else "default"
        notes: tuple[str, ...] = ()
        if asked == "sor" or (rule is not None and rule.strategy == "sor"):
            smart_venues = rule.venues if rule is not None and rule.venues else tuple(
                spec.venue_id for spec in self.specs.values() if spec.trades(instrument.symbol))
            decision = self._smart(query, now, "client:sor" if asked == "sor" else name, smart_venues)
            if decision.reject is None:
                return decision
            notes = (*decision.notes, f"smart routing not used ({decision.reject.message}): routed by rule instead")
        candidates = rule.venues if rule is not None and rule.venues else self.rules.default_venues or instrument.venues
        return self._by_rule(query, now, name, candidates, notes)

    def rules_change(self, text: str) -> Reject | None:
        try:
            rules = self._parse(text, "routing rules")
        except RoutingError as exc:
            return Reject(RejectCode.INVALID_ROUTING, str(exc))
        for spec in rules.venues or ():
            if spec.venue_id not in self.known:
                return Reject(RejectCode.INVALID_ROUTING, f"routing rules: venue {spec.venue_id!r} is not connected; "
                              "new venues are added at start from the routing file", {"venue": spec.venue_id})
        return None

    def apply(self, event: ev.Event) -> None:
        if isinstance(event, ev.RoutingRulesChanged):
            try:
                rules = self._parse(event.rules, "journaled routing rules")
            except RoutingError:
                return  # validated before it was journaled; reference data changed since: keep the current rules
            self.set_rules(rules)

    # --- helpers --------------------------------------------------------------------------------

    def set_rules(self, rules: RuleSet) -> None:
        self.rules = rules
        self.rules_text = rules.text
        if rules.venues is not None:
            self.specs.update({spec.venue_id: spec for spec in rules.venues})

    def _parse(self, text: str, source: str) -> RuleSet:
        return parse(text, source, self.instruments, self.accounts, self.known)

    def state(self, venue: VenueId) -> VenueState:
        if self.connected is not None and not self.connected(venue):
            return VenueState.DOWN
        return self.health.state(venue)

    def _unusable(self, venue: VenueId, query: RoutingQuery, now: int) -> str | None:
        if venue in query.exclude:
            return "already tried for this order"
        if venue not in self.known:
            return "not connected"
        state = self.state(venue)
        if state is VenueState.DOWN:
            return f"down{': ' + self.health.reason(venue) if self.health.reason(venue) else ''}"
        spec = self.specs.get(venue)
        if spec is not None:
            if not spec.trades(query.instrument.symbol):
                return f"does not trade {query.instrument.symbol}"
            if not spec.is_open(now):
                return f"closed (hours {spec.open_utc or '00:00'}-{spec.close_utc or '24:00'} UTC)"
            if query.quantity % spec.round_lot:
                return f"takes multiples of {spec.round_lot} only"
        return None

    def _explicit(self, venue: VenueId, query: RoutingQuery, now: int) -> RoutingDecision:
        why = self._unusable(venue, query, now) if venue in self.known else f"unknown venue (known: {', '.join(sorted(self.known))})"
        if why is not None:
            return RoutingDecision(f"client:{venue}", "rule", (), reject=Reject(
                RejectCode.NO_ROUTE, f"venue {venue} cannot take the order: {why}", {"venue": venue}))
        return RoutingDecision(f"client:{venue}", "rule", ((venue, query.quantity),), ("the client named the venue",))

    def _by_rule(self, query: RoutingQuery, now: int, name: str, candidates: Sequence[VenueId],
                 notes: tuple[str, ...]) -> RoutingDecision:
        skipped: list[str] = []
        degraded: VenueId | None = None
        for venue in candidates:
            why = self._unusable(venue, query, now)
            if why is not None:
                skipped.append(f"{venue} {why}")
                continue
            if self.state(venue) is VenueState.DEGRADED:
                if degraded is None:
                    degraded = venue
                skipped.append(f"{venue} degraded")
                continue
            if skipped:
                notes = (*notes, f"skipped: {'; '.join(skipped)}")
            return RoutingDecision(name, "rule", ((venue, query.quantity),), notes)
        if degraded is not None:
            return RoutingDecision(name, "rule", ((degraded, query.quantity),),
                                   (*notes, f"no venue up ({'; '.join(skipped)}): using degraded {degraded}"))
        return RoutingDecision(name, "rule", (), notes, Reject(
            RejectCode.NO_ROUTE, f"no venue can take the order under rule {name!r}: {'; '.join(skipped) or 'no venues'}",
            {"rule": name}))

    def _smart(self, query: RoutingQuery, now: int, name: str, candidates: Sequence[VenueId]) -> RoutingDecision:
        notes: list[str] = []
        eligible: list[VenueDepth] = []
        best_bid: tuple[Decimal, VenueId] | None = None
        best_ask: tuple[Decimal, VenueId] | None = None
        is_buy = query.side.is_buy
        symbol = query.instrument.symbol
        for venue in candidates:
            why = self._unusable(venue, query, now)
            quote = self.book.venue_quote(symbol, venue) if self.book is not None else None
            if why is None and quote is None:
                why = "no market data"
            if why is None and quote is not None:
                age = self.book.age(venue, quote, now) if self.book is not None else now - quote.ts
                marked = self.book.stale_reason(symbol, venue) if self.book is not None else None
                if marked is not None:
                    why = f"market data stale ({marked})"
                elif age > self.max_age_ns:
                    why = f"market data stale ({age // 1_000_000} ms old, limit {self.max_age_ns // 1_000_000} ms)"
                elif quote.halted:
                    why = "halted"
                elif quote.bid_size > ZERO and quote.ask_size > ZERO and quote.bid >= quote.ask:
                    why = f"its quote is crossed or locked (bid {quote.bid} >= ask {quote.ask})"
            if why is not None or quote is None:
                notes.append(f"{venue} left out: {why}")
                continue
            spec = self.specs.get(venue) or VenueSpec(venue)
            if quote.bid_size > ZERO and (best_bid is None or quote.bid > best_bid[0]):
                best_bid = (quote.bid, venue)
            if quote.ask_size > ZERO and (best_ask is None or quote.ask < best_ask[0]):
                best_ask = (quote.ask, venue)
            eligible.append(VenueDepth(venue, quote.asks if is_buy else quote.bids, spec.taker_fee_bps,
                                       spec.maker_rebate_bps, spec.round_lot, self.state(venue) is VenueState.DEGRADED,
                                       self.fills.rate(venue), spec.latency_us))
        if not eligible:
            return RoutingDecision(name, "sor", (), tuple(notes), Reject(RejectCode.NO_ROUTE, "no venue with usable market data"))
        if best_bid is not None and best_ask is not None and best_bid[0] > best_ask[0]:
            return RoutingDecision(name, "sor", (), tuple(notes), Reject(
                RejectCode.NO_ROUTE, f"consolidated market crossed: bid {best_bid[0]} at {best_bid[1]} "
                f"above ask {best_ask[0]} at {best_ask[1]}"))
        result = allocate(is_buy, query.quantity, query.price, eligible)
        if result.problem:
            return RoutingDecision(name, "sor", (), (*notes, *result.notes), Reject(RejectCode.NO_ROUTE, result.problem))
        return RoutingDecision(name, "sor", result.allocations, (*notes, *result.notes))

    def observe(self, events: Sequence[ev.Event], route_venue: Callable[[ev.Event], VenueId | None]) -> None:
        """Count routed and filled quantity per venue (a runtime subscriber feeds it)."""
        for event in events:
            if isinstance(event, ev.OrderRouted):
                self.fills.routed[event.venue] = self.fills.routed.get(event.venue, ZERO) + event.quantity
            elif isinstance(event, ev.OrderFilled):
                venue = route_venue(event)
                if venue is not None:
                    self.fills.filled[venue] = self.fills.filled.get(venue, ZERO) + event.last_qty
