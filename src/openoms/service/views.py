"""Read views of engine state as JSON-ready dicts (Decimals as strings, times as ISO UTC)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ..domain.instruments import Instrument
from ..domain.order import Order
from ..domain.positions import Position

_iso_second: tuple[int, str] = (-1, "")


def iso(ts: int) -> str:
    """ns since the epoch -> ISO 8601 UTC with microseconds (none when they are zero, as
    ``datetime.isoformat``). The date and time part is formatted once a second: every order
    update on the stream renders two or three of these, and ``datetime`` made them a third of
    the order view's cost."""
    global _iso_second
    seconds, ns = divmod(ts, 1_000_000_000)
    cached_second, text = _iso_second
    if seconds != cached_second:
        text = datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None).isoformat()
        _iso_second = (seconds, text)
    micros = ns // 1000
    return f"{text}.{micros:06d}Z" if micros else f"{text}Z"


def dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def avg_px_text(order: Order) -> str:
    # AvgPx = sum(qty*px) / CumQty: exact when it terminates, else 28 significant digits, trimmed.
    return format(order.avg_px.normalize(), "f") if order.cum_qty else "0"  # "420", never "4.2E+2"


def order_view(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "cl_ord_id": order.cl_ord_id,
        "orig_cl_ord_id": order.orig_cl_ord_id,
        "account": order.account,
        "trader": order.trader,
        "symbol": order.symbol,
        "side": order.side.value,
        "ord_type": order.ord_type.value,
        "quantity": str(order.quantity),
        "price": dec(order.price),
        "stop_price": dec(order.stop_price),
        "tif": order.tif.value,
        "expire_at": iso(order.expire_at) if order.expire_at else None,
        "status": order.status.value,
        "cum_qty": str(order.cum_qty),
        "leaves_qty": str(order.leaves_qty),
        "avg_px": avg_px_text(order),
        "trade_date": order.trade_date,
        "created_at": iso(order.created_ts),
        "updated_at": iso(order.updated_ts),
        "text": order.text,
        "routes": [
            {
                "route_id": r.route_id,
                "venue": r.venue,
                "quantity": str(r.quantity),
                "price": dec(r.price),
                "venue_order_id": r.venue_order_id,
                "cum_qty": str(r.cum_qty),
                "done": r.done,
            }
            for r in order.routes.values()
        ],
    }


def position_view(position: Position, instrument: Instrument, mark: Decimal | None) -> dict[str, Any]:
    unrealized = position.unrealized_pnl(mark, instrument) if mark is not None else None
    return {
        "account": position.account,
        "symbol": position.symbol,
        "quantity": str(position.quantity),
        "avg_price": format(position.avg_price.normalize(), "f") if position.quantity else "0",
        "realized_pnl": str(position.realized_pnl),
        "unrealized_pnl": dec(unrealized),
        "mark": dec(mark),
        "currency": instrument.currency,
        "bought": str(position.bought),
        "sold": str(position.sold),
        "fills": position.fills,
    }
