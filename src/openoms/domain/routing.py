"""Routing as the engine sees it: a port, like the pre-trade gate, so the domain does not depend
on the routing package. ``openoms.routing.router.Router`` implements it.

The router reads things the journal does not hold (market data, venue health, the clock of
venue hours) the way risk reads reference prices: its *answer* is journaled
(``RoutingDecided`` + one ``OrderRouted`` per venue), and replay only folds those events, so
state == replay(journal) whatever the market was.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from . import events as ev
from .ids import AccountId, VenueId
from .instruments import Instrument
from .rejects import Reject
from .values import OrdType, Side, TimeInForce


@dataclass(slots=True)  # not frozen: a frozen dataclass sets each field through object.__setattr__ (per order)
class RoutingQuery:
    """What the router decides on: the order (or the unfilled remainder being re-routed)."""

    account: AccountId
    instrument: Instrument
    side: Side
    quantity: Decimal
    ord_type: OrdType
    price: Decimal | None
    tif: TimeInForce
    strategy: str = ""  # what the client asked for ("" = the rules decide; "sor"; a venue id)
    exclude: frozenset[VenueId] = frozenset()  # venues already tried for this order (re-route)


@dataclass(slots=True)
class RoutingDecision:
    """Where the quantity goes and why. ``allocations`` sum to the query's quantity unless
    ``reject`` says why nothing can be routed."""

    rule: str  # the rule that chose (or "sor" / "sor-fallback")
    strategy: str  # "rule" or "sor"
    allocations: tuple[tuple[VenueId, Decimal], ...]
    notes: tuple[str, ...] = ()  # the explanation: prices, fees, excluded venues, fall-backs
    reject: Reject | None = None


class OrderRouter(Protocol):
    rules_text: str  # the rule set in force, as TOML text (what RoutingRulesChanged records)

    def plain_default(self, instrument: Instrument, quantity: Decimal, now: int) -> VenueId | None:
        """The hot path: the venue when no rule can apply and the first default venue takes the
        order as it is (nothing to explain); None: ask ``route``."""
        ...

    def route(self, query: RoutingQuery, now: int) -> RoutingDecision: ...

    def rules_change(self, text: str) -> Reject | None:
        """Validate a new rule set (TOML text): None when it can be applied."""
        ...

    def apply(self, event: ev.Event) -> None:
        """Fold a RoutingRulesChanged event (replay restores the rules edited over the API)."""
        ...
