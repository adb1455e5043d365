"""Typed answers of the OpenOMS HTTP API, decoded with msgspec straight from the response bytes.

Every price, quantity and amount is a ``Decimal`` read from its text (the server sends decimal
strings; a JSON number would be read from its digits too, never through a binary float), and
times are timezone-aware ``datetime``. Fields the server adds later are ignored, so an older
client keeps working against a newer server. Parts whose shape is open (event details, limit
sets) stay dicts, with any JSON number in them decoded as ``Decimal``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec

from ..domain.lifecycle import OrdStatus
from ..domain.values import Liquidity, OrdType, Side, TimeInForce


class Model(msgspec.Struct, kw_only=True, frozen=True):
    """Base of every answer: immutable, keyword-built, compared by value. (Subclasses repeat the
    options so that type checkers, which do not inherit them, see the same class msgspec builds.)"""


# --- orders ------------------------------------------------------------------------------------

class Route(Model, kw_only=True, frozen=True):
    route_id: str
    venue: str
    quantity: Decimal
    price: Decimal | None = None
    venue_order_id: str | None = None
    cum_qty: Decimal
    done: bool


class Order(Model, kw_only=True, frozen=True):
    order_id: str
    cl_ord_id: str
    orig_cl_ord_id: str | None = None
    account: str
    trader: str
    symbol: str
    side: Side
    ord_type: OrdType
    quantity: Decimal
    price: Decimal | None = None
    stop_price: Decimal | None = None
    tif: TimeInForce
    expire_at: datetime | None = None
    status: OrdStatus
    cum_qty: Decimal
    leaves_qty: Decimal
    avg_px: Decimal
    trade_date: str
    created_at: datetime
    updated_at: datetime
    text: str | None = None
    parent_id: str | None = None  # the execution algorithm that sent it, if any
    routes: list[Route] = []


class OrderAck(Model, kw_only=True, frozen=True):
    """The answer to a submit, replace or cancel: the order as the engine left it (PendingNew,
    PendingReplace, PendingCancel...) and the events journaled for the request."""

    order: Order
    events: list[dict[str, Any]]


class OrderDetail(Model, kw_only=True, frozen=True):
    """One order with its full event history from the journal (who, when, what)."""

    order: Order
    events: list[dict[str, Any]]


# --- executions and positions ------------------------------------------------------------------

class Execution(Model, kw_only=True, frozen=True):
    exec_id: str
    order_id: str
    route_id: str
    account: str
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    liquidity: Liquidity
    busted: bool
    time: datetime


class Position(Model, kw_only=True, frozen=True):
    account: str
    symbol: str
    quantity: Decimal
    avg_price: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal | None = None
    mark: Decimal | None = None
    currency: str
    bought: Decimal
    sold: Decimal
    fills: int


# --- reference and market data -----------------------------------------------------------------

class Instrument(Model, kw_only=True, frozen=True):
    symbol: str
    description: str
    asset_class: str
    currency: str
    tick_size: Decimal
    lot_size: Decimal
    multiplier: Decimal
    quotation: str
    settlement_days: int
    venues: list[str]
    underlying: str | None = None
    expiry: str | None = None
    strike: Decimal | None = None
    put_call: str | None = None


class Account(Model, kw_only=True, frozen=True):
    account: str
    name: str
    currency: str
    desk: str
    firm: str
    traders: list[str]


class Quote(Model, kw_only=True, frozen=True):
    symbol: str
    bid: Decimal
    bid_size: Decimal
    ask: Decimal
    ask_size: Decimal
    last: Decimal
    last_size: Decimal
    volume: Decimal
    halted: bool
    time: datetime


# --- risk --------------------------------------------------------------------------------------

class Check(Model, kw_only=True, frozen=True):
    """One pre-trade check's answer; a failed one names its code, message and detail."""

    check: str
    passed: bool
    code: str | None = None
    message: str | None = None
    detail: dict[str, Any] = {}


class WhatIf(Model, kw_only=True, frozen=True):
    would_be_accepted: bool
    checks: list[Check]


class BasketOrderResult(Model, kw_only=True, frozen=True):
    index: int
    account: str
    symbol: str
    side: Side
    quantity: Decimal
    would_be_accepted: bool
    checks: list[Check]


class BasketCredit(Model, kw_only=True, frozen=True):
    """An account's credit with the basket's buys added: ``fits`` when it stays under the limit."""

    used: Decimal
    basket_buys: Decimal
    projected: Decimal
    limit: Decimal | None = None
    fits: bool
    problem: str | None = None


class BasketWhatIf(Model, kw_only=True, frozen=True):
    would_be_accepted: bool
    orders: list[BasketOrderResult]
    credit: dict[str, BasketCredit]


class Override(Model, kw_only=True, frozen=True):
    limits: dict[str, str]
    expires_at: datetime


class RiskLimits(Model, kw_only=True, frozen=True):
    """Limits in force per scope (``firm:DEMO``, ``desk:EQUITIES``, ``account:ACC-EQ-1``...), as
    the text the journal keeps, with overrides, restricted and watch lists and kill switches."""

    limits: dict[str, dict[str, str]]
    overrides: dict[str, Override]
    restricted: dict[str, list[str]]
    watch: dict[str, list[str]]
    fx_rates: dict[str, Decimal]
    reference_max_age_ms: int
    kill_switches: dict[str, str]


class LimitUse(Model, kw_only=True, frozen=True):
    """How much of one limit is used; ``limit`` and ``scope`` are absent when no limit applies."""

    used: Decimal
    scope: str | None = None
    limit: Decimal | None = None
    used_pct: Decimal | None = None


class DailyPnl(Model, kw_only=True, frozen=True):
    realized: Decimal
    unrealized: Decimal


class OrderToTrade(Model, kw_only=True, frozen=True):
    messages: int
    fills: int
    used: Decimal
    scope: str | None = None
    limit: Decimal | None = None
    used_pct: Decimal | None = None


class AccountUsage(Model, kw_only=True, frozen=True):
    account: str
    currency: str
    credit_limit: LimitUse | None = None
    max_gross_exposure: LimitUse | None = None
    max_net_exposure: LimitUse | None = None
    max_daily_loss: LimitUse | None = None
    daily_pnl: DailyPnl | None = None
    unavailable: str | None = None  # why the marked figures above could not be computed
    order_to_trade: OrderToTrade
    locates: dict[str, Decimal] = {}


class PositionUsage(Model, kw_only=True, frozen=True):
    account: str
    symbol: str
    position: Decimal
    working_buys: Decimal
    working_sells: Decimal
    long: LimitUse | None = None
    short: LimitUse | None = None


class RiskUsage(Model, kw_only=True, frozen=True):
    accounts: list[AccountUsage]
    usage: list[PositionUsage]


class KillSwitch(Model, kw_only=True, frozen=True):
    """A kill switch engaged (with the orders it is canceling) or released."""

    scope: str
    engaged: bool
    canceling: list[str] = []


# --- audit -------------------------------------------------------------------------------------

class Actor(Model, kw_only=True, frozen=True):
    user: str
    channel: str
    address: str


class AuditEntry(Model, kw_only=True, frozen=True):
    seq: int
    time: datetime
    type: str
    actor: Actor
    detail: dict[str, Any]
    before: dict[str, Any] | None = None
    after: dict[str, Any]
    market: dict[str, Any] | None = None


class AuditExecution(Model, kw_only=True, frozen=True):
    exec_id: str
    route_id: str
    quantity: Decimal
    price: Decimal
    liquidity: Liquidity
    busted: bool
    time: datetime
    seq: int


class AuditedOrder(Order, kw_only=True, frozen=True):
    executions: list[AuditExecution] = []


class AuditHistory(Model, kw_only=True, frozen=True):
    """An order reconstructed from the journal: state before and after every event, with the
    market price at that moment."""

    order: AuditedOrder
    events: list[AuditEntry]


# --- execution algorithms and staged orders ------------------------------------------------------

class Algo(Model, kw_only=True, frozen=True):
    """An execution algorithm (parent order): its terms, progress and, from the REST calls, its
    children (ordinary orders naming it in ``parent_id``)."""

    algo_id: str
    account: str
    trader: str
    symbol: str
    side: Side
    cl_ord_id: str
    kind: str  # twap, vwap, pov, iceberg
    status: str  # working, paused, done
    reason: str = ""
    quantity: Decimal
    limit_price: Decimal | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None
    params: dict[str, str] = {}
    route: str = ""
    filled: Decimal
    working: Decimal
    leaves: Decimal
    child_ids: list[str] = []
    children: list[Order] = []


class StagedOrder(Model, kw_only=True, frozen=True):
    """An order a portfolio manager staged: ``staged`` -> ``picked_up`` -> ``released`` (with the
    ``order_id`` its release made) or ``canceled``."""

    staged_id: str
    account: str
    symbol: str
    side: Side
    quantity: Decimal
    ord_type: OrdType
    price: Decimal | None = None
    stop_price: Decimal | None = None
    tif: TimeInForce
    for_trader: str = ""
    note: str = ""
    staged_by: str
    staged_at: datetime
    status: str
    trader: str = ""
    order_id: str | None = None
    reason: str = ""
    updated_at: datetime


class Release(Model, kw_only=True, frozen=True):
    """The answer to a release: the staged order, now released, and the order it made."""

    staged: StagedOrder
    order: Order


# --- sessions, errors and the stream ------------------------------------------------------------

class Session(Model, kw_only=True, frozen=True):
    """A signed-in session (``POST /api/v1/auth/login``): the bearer token and when it expires."""

    token: str
    expires_at: datetime | None = None
    user: str
    roles: list[str] = []


class ErrorBody(Model, kw_only=True, frozen=True):
    code: str
    message: str
    detail: Any = None


class ErrorEnvelope(Model, kw_only=True, frozen=True):
    error: ErrorBody


class StreamMessage(Model, kw_only=True, frozen=True):
    """One message of the live stream. ``seq`` numbers updates (absent on unnumbered ones such as
    quotes); ``data`` is the whole message as sent, numbers as ``Decimal``."""

    type: str
    seq: int | None = None
    data: dict[str, Any]
