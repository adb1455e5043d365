"""Events: what happened (past tense, frozen). The journal stores exactly these.

Every event carries ``seq`` (its place in the journal), ``ts`` (UTC, ns since the epoch) and
``actor`` (who caused it). Each class is written out by hand so it can be grepped, versioned
and upcast; the tag (the class name) is what the journal stores as the event type.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from .commands import Actor
from .ids import AccountId, ClientOrderId, ExecId, OrderId, RouteId, Symbol, TraderId, VenueId, VenueOrderId
from .rejects import Reject
from .values import Liquidity, OrdType, Side, TimeInForce


# gc=False: events hold only scalars, Decimals, strings and other such structs, so they can never
# be part of a reference cycle; untracked, they cost the cyclic garbage collector nothing.
class Event(msgspec.Struct, frozen=True, kw_only=True, tag=True, gc=False):
    seq: int
    ts: int
    actor: Actor


class EngineStarted(Event, frozen=True, kw_only=True):
    """Written once per start: which build replayed the journal and where time comes from."""

    version: str
    clock: str
    replayed_events: int


class OrderAccepted(Event, frozen=True, kw_only=True):
    """The OMS took the order (OrdStatus PendingNew)."""

    order_id: OrderId
    account: AccountId
    trader: TraderId
    cl_ord_id: ClientOrderId
    symbol: Symbol
    side: Side
    quantity: Decimal
    ord_type: OrdType
    price: Decimal | None
    stop_price: Decimal | None
    tif: TimeInForce
    expire_at: int | None
    trade_date: str
    reference_price: Decimal | None = None  # the market price pre-trade risk judged the order against (far touch for market orders)
    alerts: tuple[str, ...] = ()  # compliance alerts raised but not refusing (watch lists)
    parent_id: str = ""  # the execution algorithm (AlgoStarted.algo_id) this order is a child of


class OrderRouted(Event, frozen=True, kw_only=True):
    """A route (child order) for the order was sent to a venue."""

    order_id: OrderId
    route_id: RouteId
    venue: VenueId
    quantity: Decimal
    price: Decimal | None


class RoutingDecided(Event, frozen=True, kw_only=True):
    """Where the router sent an order (or its unfilled remainder) and why: the rule that chose,
    the quantity per venue, and notes (prices, fees, venues left out, fall-backs)."""

    order_id: OrderId
    rule: str
    strategy: str  # "rule" or "sor"
    allocations: tuple[tuple[VenueId, Decimal], ...]
    notes: tuple[str, ...] = ()


class RouteEnded(Event, frozen=True, kw_only=True):
    """One route of an order split across venues finished unfilled (canceled or refused by its
    venue) while the order goes on through its other routes (or a re-route)."""

    order_id: OrderId
    route_id: RouteId
    reason: str


class RoutingRulesChanged(Event, frozen=True, kw_only=True):
    """The routing rules (TOML text) were replaced, over the API or from the config file."""

    rules: str
    previous: str
    reason: str


class AlgoStarted(Event, frozen=True, kw_only=True):
    """An execution algorithm (parent order) was accepted; its children are ordinary orders."""

    algo_id: str
    account: AccountId
    trader: TraderId
    symbol: Symbol
    side: Side
    cl_ord_id: str
    params: dict[str, str]  # openoms.domain.algos.params_text
    route: str = ""
    volume_at_start: Decimal = Decimal(0)  # the instrument's day volume when it started (POV counts from here)


class AlgoSliced(Event, frozen=True, kw_only=True):
    """The algorithm decided to send a child: what should be out by now, and the volume it saw."""

    algo_id: str
    target: Decimal
    observed_volume: Decimal


class AlgoPaused(Event, frozen=True, kw_only=True):
    algo_id: str
    reason: str


class AlgoResumed(Event, frozen=True, kw_only=True):
    algo_id: str
    reason: str


class AlgoModified(Event, frozen=True, kw_only=True):
    algo_id: str
    params: dict[str, str]
    previous: dict[str, str]


class AlgoEnded(Event, frozen=True, kw_only=True):
    """No more children: completed, canceled, or out of time (the reason says which)."""

    algo_id: str
    reason: str


class OrderAcknowledged(Event, frozen=True, kw_only=True):
    """The venue accepted the route (ExecType New)."""

    order_id: OrderId
    route_id: RouteId
    venue_order_id: VenueOrderId


class OrderRejected(Event, frozen=True, kw_only=True):
    """The venue refused the route; with no fills the order is Rejected."""

    order_id: OrderId
    route_id: RouteId
    reason: Reject


class OrderFilled(Event, frozen=True, kw_only=True):
    order_id: OrderId
    route_id: RouteId
    exec_id: ExecId
    last_qty: Decimal
    last_px: Decimal
    liquidity: Liquidity


class CancelRequested(Event, frozen=True, kw_only=True):
    order_id: OrderId
    cl_ord_id: ClientOrderId
    route_id: RouteId | None  # the route asked to cancel; None when nothing is at a venue
    market_price: Decimal | None = None  # the market price the OMS saw when asked (for the audit trail)


class CancelRejected(Event, frozen=True, kw_only=True):
    """The venue refused a pending cancel; the order resumes its previous status."""

    order_id: OrderId
    cl_ord_id: ClientOrderId
    reason: Reject


class OrderCanceled(Event, frozen=True, kw_only=True):
    order_id: OrderId
    route_id: RouteId
    reason: str


class ReplaceRequested(Event, frozen=True, kw_only=True):
    order_id: OrderId
    cl_ord_id: ClientOrderId
    route_id: RouteId | None
    quantity: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    market_price: Decimal | None = None  # the market price the OMS saw when asked (for the audit trail)
    # An order split across venues is replaced by canceling these child routes (route_id is then
    # None); once they are done the order is replaced and its uncovered leaves routed again.
    cancel_routes: tuple[RouteId, ...] = ()


class ReplaceRejected(Event, frozen=True, kw_only=True):
    order_id: OrderId
    cl_ord_id: ClientOrderId
    reason: Reject


class OrderReplaced(Event, frozen=True, kw_only=True):
    """The venue confirmed the replace: the new ClOrdID, quantity and price now apply."""

    order_id: OrderId
    cl_ord_id: ClientOrderId
    quantity: Decimal
    price: Decimal | None
    stop_price: Decimal | None


class OrderExpired(Event, frozen=True, kw_only=True):
    order_id: OrderId
    reason: str


class OrderDoneForDay(Event, frozen=True, kw_only=True):
    order_id: OrderId


class OrderRestated(Event, frozen=True, kw_only=True):
    order_id: OrderId
    reason: str


class TradeBusted(Event, frozen=True, kw_only=True):
    order_id: OrderId
    exec_id: ExecId


class TradeCorrected(Event, frozen=True, kw_only=True):
    order_id: OrderId
    exec_id: ExecId
    last_qty: Decimal
    last_px: Decimal


class CommandRejected(Event, frozen=True, kw_only=True):
    """The engine refused a command outright; nothing else changed. Kept for the audit trail."""

    command: str
    order_id: OrderId | None
    cl_ord_id: ClientOrderId | None
    account: AccountId | None
    reason: Reject


class LimitsChanged(Event, frozen=True, kw_only=True):
    """The risk limits of a scope changed (``limits`` None: removed). Who, when and why are kept."""

    scope: str
    limits: dict[str, str] | None
    previous: dict[str, str] | None
    reason: str


class RestrictedListChanged(Event, frozen=True, kw_only=True):
    scope: str
    symbols: list[str]
    previous: list[str]
    reason: str
    kind: str = "restricted"  # or "watch": orders are admitted with an alert


class CancelDeferred(Event, frozen=True, kw_only=True):
    """A kill switch reached an order whose replace is still unanswered: the engine cancels it
    the moment the replace is answered (a cancel cannot overtake a pending replace)."""

    order_id: OrderId
    reason: str


class LimitsOverridden(Event, frozen=True, kw_only=True):
    """A temporary override of some limits of a scope, in force until ``expires_at`` (ns, UTC)."""

    scope: str
    limits: dict[str, str]
    expires_at: int
    reason: str


class OverrideEnded(Event, frozen=True, kw_only=True):
    """An override stopped: it expired (actor: the scheduler) or a risk officer ended it."""

    scope: str
    reason: str


class LocateGranted(Event, frozen=True, kw_only=True):
    """Borrow located for short sales of ``symbol`` in ``account``: consumed by short orders."""

    account: AccountId
    symbol: Symbol
    locate_id: str
    quantity: Decimal
    expires_at: int
    source: str


class KillSwitchEngaged(Event, frozen=True, kw_only=True):
    scope: str
    reason: str


class KillSwitchReleased(Event, frozen=True, kw_only=True):
    scope: str
    reason: str


class DayEnded(Event, frozen=True, kw_only=True):
    trade_date: str


class DayStarted(Event, frozen=True, kw_only=True):
    trade_date: str


AnyEvent = (
    EngineStarted
    | OrderAccepted
    | OrderRouted
    | RoutingDecided
    | RouteEnded
    | RoutingRulesChanged
    | AlgoStarted
    | AlgoSliced
    | AlgoPaused
    | AlgoResumed
    | AlgoModified
    | AlgoEnded
    | OrderAcknowledged
    | OrderRejected
    | OrderFilled
    | CancelRequested
    | CancelRejected
    | OrderCanceled
    | ReplaceRequested
    | ReplaceRejected
    | OrderReplaced
    | OrderExpired
    | OrderDoneForDay
    | OrderRestated
    | TradeBusted
    | TradeCorrected
    | CommandRejected
    | DayEnded
    | DayStarted
    | LimitsChanged
    | RestrictedListChanged
    | KillSwitchEngaged
    | KillSwitchReleased
    | CancelDeferred
    | LimitsOverridden
    | OverrideEnded
    | LocateGranted
)
