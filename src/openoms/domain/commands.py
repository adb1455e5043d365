"""Commands: what someone asks the engine to do (imperative, frozen).

Client commands come from traders and systems; venue reports are what a venue told us.
Both go through the same single-writer engine, in order. Time is not on the command:
the engine is handed ``now`` with each command, so the same commands replay to the same events.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from .ids import AccountId, ClientOrderId, ExecId, OrderId, RouteId, Symbol, VenueOrderId
from .rejects import Reject
from .values import Liquidity, OrdType, Side, TimeInForce


class Actor(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """Who sent a command: the user, the channel (rest, fix, cli, venue, engine) and the session."""

    user: str
    source: str
    session: str = ""


class Command(msgspec.Struct, frozen=True, kw_only=True, tag=True, gc=False):
    actor: Actor


class SubmitOrder(Command, frozen=True, kw_only=True):
    account: AccountId
    cl_ord_id: ClientOrderId
    symbol: Symbol
    side: Side
    quantity: Decimal
    ord_type: OrdType = OrdType.LIMIT
    price: Decimal | None = None
    stop_price: Decimal | None = None
    tif: TimeInForce = TimeInForce.DAY
    expire_at: int | None = None  # GTD: ns since the epoch, UTC
    route: str = ""  # how to route: "" the routing rules decide, "sor" the smart order router, or a venue id


class ReplaceOrder(Command, frozen=True, kw_only=True):
    order_id: OrderId
    cl_ord_id: ClientOrderId  # the new ClOrdID
    quantity: Decimal | None = None  # None keeps the current value
    price: Decimal | None = None
    stop_price: Decimal | None = None


class CancelOrder(Command, frozen=True, kw_only=True):
    order_id: OrderId
    cl_ord_id: ClientOrderId | None = None


class EndOfDay(Command, frozen=True, kw_only=True):
    """Close of the trading day: DAY orders expire, GTC orders become DoneForDay, GTD checked."""


class ExpireDue(Command, frozen=True, kw_only=True):
    """Expire every GTD order whose expire_at has come (sent by a timer; a no-op when none is due)."""


class StartOfDay(Command, frozen=True, kw_only=True):
    """Opening of a new trading day: DoneForDay orders are restated."""


class RecordStart(Command, frozen=True, kw_only=True):
    """Journal that the engine (re)started: which build, which clock, how much was replayed."""

    version: str
    clock: str
    replayed_events: int


class SetRoutingRules(Command, frozen=True, kw_only=True):
    """Replace the routing rules with ``rules`` (TOML text, as in the routing file)."""

    rules: str
    reason: str


class StartAlgo(Command, frozen=True, kw_only=True):
    """Work ``quantity`` by an execution algorithm (twap, vwap, pov, iceberg) as child orders."""

    account: AccountId
    cl_ord_id: str
    symbol: Symbol
    side: Side
    quantity: Decimal
    kind: str
    limit_price: Decimal | None = None
    start_at: int | None = None  # ns since the epoch; None: now
    end_at: int | None = None
    interval_s: int = 60
    participation_pct: Decimal | None = None
    min_participation_pct: Decimal | None = None
    max_participation_pct: Decimal | None = None
    display_qty: Decimal | None = None
    profile: tuple[Decimal, ...] = ()
    route: str = ""
    market_volume: Decimal = Decimal(0)  # the instrument's day volume now (the adapter reads market data)


class PauseAlgo(Command, frozen=True, kw_only=True):
    algo_id: str
    reason: str = ""


class ResumeAlgo(Command, frozen=True, kw_only=True):
    algo_id: str
    reason: str = ""


class CancelAlgo(Command, frozen=True, kw_only=True):
    algo_id: str
    reason: str = ""


class ModifyAlgo(Command, frozen=True, kw_only=True):
    """New terms (None keeps the current); working children are canceled and re-sliced on the new terms."""

    algo_id: str
    quantity: Decimal | None = None
    limit_price: Decimal | None = None
    end_at: int | None = None
    participation_pct: Decimal | None = None


class AlgoTick(Command, frozen=True, kw_only=True):
    """The scheduler's beat: time comes with the command, and the day volume per instrument."""

    volumes: dict[str, Decimal] = {}


class SetLimits(Command, frozen=True, kw_only=True):
    """Set (or with ``limits`` None remove) the risk limits of one scope, e.g. ``account:ACC-EQ-1``."""

    scope: str
    limits: dict[str, str] | None
    reason: str


class SetRestricted(Command, frozen=True, kw_only=True):
    """Replace the restricted list of one scope (``firm:...`` or ``account:...``)."""

    scope: str
    symbols: list[str]
    reason: str
    kind: str = "restricted"  # or "watch"


class OverrideLimits(Command, frozen=True, kw_only=True):
    """Override some limits of a scope until ``expires_at`` (ns, UTC); the override then ends on its own."""

    scope: str
    limits: dict[str, str]
    expires_at: int
    reason: str


class EndOverride(Command, frozen=True, kw_only=True):
    scope: str
    reason: str


class GrantLocate(Command, frozen=True, kw_only=True):
    """Record a stock-borrow locate for an account (from the stock-loan desk or a broker)."""

    account: AccountId
    symbol: Symbol
    locate_id: str
    quantity: Decimal
    expires_at: int
    source: str = ""


class EngageKillSwitch(Command, frozen=True, kw_only=True):
    """Stop trading in a scope (``firm:``, ``desk:``, ``trader:``, ``account:`` or ``instrument:``):
    cancel its working orders and refuse new ones, except orders that only reduce a position."""

    scope: str
    reason: str


class ReleaseKillSwitch(Command, frozen=True, kw_only=True):
    scope: str
    reason: str


# --- venue reports (ExecutionReports / OrderCancelRejects from a venue, addressed by route) ---


class VenueAccepted(Command, frozen=True, kw_only=True):
    route_id: RouteId
    venue_order_id: VenueOrderId


class VenueRejected(Command, frozen=True, kw_only=True):
    route_id: RouteId
    reason: Reject


class VenueFilled(Command, frozen=True, kw_only=True):
    route_id: RouteId
    exec_id: ExecId
    last_qty: Decimal
    last_px: Decimal
    liquidity: Liquidity = Liquidity.REMOVED


class VenueCanceled(Command, frozen=True, kw_only=True):
    route_id: RouteId
    reason: str  # "requested", "ioc remainder", "fok not filled", "expired", ...


class VenueReplaced(Command, frozen=True, kw_only=True):
    route_id: RouteId
    quantity: Decimal
    price: Decimal | None
    stop_price: Decimal | None = None


class VenueCancelRejected(Command, frozen=True, kw_only=True):
    route_id: RouteId
    reason: Reject


class VenueReplaceRejected(Command, frozen=True, kw_only=True):
    route_id: RouteId
    reason: Reject


class VenueExpired(Command, frozen=True, kw_only=True):
    route_id: RouteId


class VenueTradeBusted(Command, frozen=True, kw_only=True):
    exec_id: ExecId


class VenueTradeCorrected(Command, frozen=True, kw_only=True):
    exec_id: ExecId
    last_qty: Decimal
    last_px: Decimal


ClientCommand = SubmitOrder | ReplaceOrder | CancelOrder
VenueReport = (
    VenueAccepted
    | VenueRejected
    | VenueFilled
    | VenueCanceled
    | VenueReplaced
    | VenueCancelRejected
    | VenueReplaceRejected
    | VenueExpired
    | VenueTradeBusted
    | VenueTradeCorrected
)
AnyCommand = (
    ClientCommand | VenueReport | EndOfDay | StartOfDay | ExpireDue | RecordStart | SetLimits | SetRestricted
    | EngageKillSwitch | ReleaseKillSwitch | OverrideLimits | EndOverride | GrantLocate | SetRoutingRules
    | StartAlgo | PauseAlgo | ResumeAlgo | CancelAlgo | ModifyAlgo | AlgoTick
)
