"""MiFID II-style order record, one CSV row per order event (columns: docs/exports.md and
docs/schemas/mifid-order-record.schema.json).

Inspired by RTS 24 (order data to keep) and RTS 22 (transaction reporting) fields: the client,
who decided to invest and who decided the execution within the firm, the venue, the
instrument, the order's terms and what was left, executed and at what price, with UTC
timestamps to the microsecond. Event type codes follow RTS 24 field 21 where one exists
(NEWO, REME, CAME, CAMO, EXPI, REJE, PARF, FILL) and add ROUT (sent to a venue; ``reason``
holds the routing decision: rule or strategy, allocation and why), RTEN (a route ended
unfilled while the order went on), BUST and CORR (trade bust and correction). Rows are in journal order; numbers are exact decimal text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal

from ..audit.timefmt import iso_us
from ..domain import events as ev
from ..domain.accounts import ReferenceData
from ..domain.values import OrdType, Side, TimeInForce
from .day import DayEvent, record_id, routing_of

COLUMNS = (
    "record_id", "trading_day", "event_time", "event_type", "order_id", "client_order_id", "orig_client_order_id",
    "client_id", "investment_decision_maker", "execution_decision_maker", "entered_by", "channel", "venue",
    "route_id", "venue_order_id", "instrument", "currency", "buy_sell", "short_selling_indicator", "order_type",
    "limit_price", "stop_price", "initial_quantity", "quantity", "remaining_quantity", "traded_quantity",
    "traded_price", "cumulative_quantity", "exec_id", "validity_period", "validity_date_time", "order_status", "reason",
)
BUY_SELL = {Side.BUY: "BUYI", Side.SELL: "SELL", Side.SELL_SHORT: "SELL", Side.SELL_SHORT_EXEMPT: "SELL"}
SHORT_SELLING = {Side.BUY: "", Side.SELL: "SELL", Side.SELL_SHORT: "SESH", Side.SELL_SHORT_EXEMPT: "SSEX"}
ORDER_TYPE = {OrdType.LIMIT: "LMTO", OrdType.MARKET: "MAKT", OrdType.STOP: "STOP", OrdType.STOP_LIMIT: "STLI"}
VALIDITY = {TimeInForce.DAY: "DAVY", TimeInForce.GTC: "GTCV", TimeInForce.IOC: "IOCV", TimeInForce.FOK: "FOKV",
            TimeInForce.GTD: "GTDV"}


def _text(value: object) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")  # exact positional text, never 1E+3
    return "" if value is None else str(value)


def _event_type(item: DayEvent) -> str | None:
    kind = type(item.event)
    if kind is ev.OrderAccepted:
        return "NEWO"
    if kind is ev.OrderRouted:
        return "ROUT"
    if kind is ev.RouteEnded:
        return "RTEN"
    if kind is ev.OrderReplaced:
        return "REME"
    if kind is ev.OrderCanceled:
        # Cancelled at the member's request (the client or the firm asked), or by the venue (IOC rest, FOK...).
        return "CAME" if item.event.reason == "requested" else "CAMO"  # type: ignore[attr-defined]
    if kind is ev.OrderExpired:
        return "EXPI"
    if kind is ev.OrderRejected:
        return "REJE"
    if kind is ev.OrderFilled:
        # Nothing left to execute: a full fill, even while a replace is pending (which outranks Filled in OrdStatus).
        return "FILL" if item.after.leaves_qty == 0 else "PARF"
    if kind is ev.TradeBusted:
        return "BUST"
    if kind is ev.TradeCorrected:
        return "CORR"
    return None


def mifid_rows(day_events: Iterator[DayEvent], reference: ReferenceData) -> Iterator[list[str]]:
    for item in day_events:
        event_type = _event_type(item)
        if event_type is None:
            continue
        event, order, accepted, after = item.event, item.order, item.accepted, item.after
        route_id = getattr(event, "route_id", None)
        exec_id = getattr(event, "exec_id", None)
        traded_qty = traded_px = None
        if exec_id is not None:
            execution = order.executions[exec_id]
            route_id = execution.route_id
            if type(event) is not ev.TradeBusted:
                traded_qty, traded_px = event.last_qty, event.last_px  # type: ignore[attr-defined]
        if route_id is None and order.routes:
            route_id = next(reversed(order.routes))  # a replace or cancel applies to the order's latest route
        route = order.routes.get(route_id) if route_id is not None else None
        instrument = reference.instruments.get(accepted.symbol)
        reason = getattr(event, "reason", None)
        if event_type == "ROUT":
            rule, why = routing_of(order)
            reason = f"routing rule {rule}: {why}"
        yield [
            record_id(event.ts, event.seq), iso_us(event.ts)[:10], iso_us(event.ts), event_type, accepted.order_id, after.cl_ord_id, _text(after.orig_cl_ord_id),
            accepted.account, accepted.trader,
            # Who decided how to execute within the firm: the person or system that entered the order.
            accepted.actor.user,
            event.actor.user, event.actor.source,
            _text(route.venue if route is not None else None), _text(route_id),
            _text(route.venue_order_id if route is not None else None),
            accepted.symbol, instrument.currency if instrument is not None else "",
            BUY_SELL[accepted.side], SHORT_SELLING[accepted.side], ORDER_TYPE[accepted.ord_type],
            _text(after.price), _text(after.stop_price), _text(accepted.quantity), _text(after.quantity),
            _text(after.leaves_qty), _text(traded_qty), _text(traded_px), _text(after.cum_qty), _text(exec_id),
            VALIDITY[accepted.tif], iso_us(accepted.expire_at) if accepted.expire_at else "", after.status,
            "" if reason is None else (reason if isinstance(reason, str) else f"{reason.code.value}: {reason.message}"),
        ]


def header_line() -> str:
    return encode_row(list(COLUMNS))


def encode_row(row: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(row)
    return buffer.getvalue()
