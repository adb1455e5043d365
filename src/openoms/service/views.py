"""Read views of engine state as JSON-ready dicts (Decimals as strings, times as ISO UTC)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ..domain.algos import AlgoParent, params_text
from ..domain.engine import OrderEngine
from ..domain.instruments import Instrument
from ..domain.order import Order
from ..domain.positions import Position
from ..staging.desk import StagedOrder

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
        "parent_id": order.parent_id or None,  # the execution algorithm that sent it
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


def algo_view(engine: OrderEngine, algo: AlgoParent) -> dict[str, Any]:
    """A parent order with its progress; ``child_ids`` names its children (orders of their own)."""
    filled, working = engine.algo_desk.algo_progress(algo)
    params = algo.params
    return {
        "algo_id": algo.algo_id, "account": algo.account, "trader": algo.trader, "symbol": algo.symbol,
        "side": algo.side.value, "cl_ord_id": algo.cl_ord_id, "kind": params.kind.value, "status": algo.status.value,
        "reason": algo.reason, "quantity": str(params.quantity), "limit_price": dec(params.limit_price),
        "start_at": iso(params.start_at) if params.start_at else None, "end_at": iso(params.end_at) if params.end_at else None,
        "params": params_text(params), "route": algo.route, "filled": str(filled), "working": str(working),
        "leaves": str(params.quantity - filled), "child_ids": list(algo.children),
    }


def staged_view(order: StagedOrder) -> dict[str, Any]:
    """A staged order: what the portfolio manager asked for, who staged and picked it up, and the
    order its release made (``order_id``)."""
    staged = order.staged
    return {
        "staged_id": staged.staged_id, "account": staged.account, "symbol": staged.symbol, "side": staged.side.value,
        "quantity": str(staged.quantity), "ord_type": staged.ord_type.value, "price": dec(staged.price),
        "stop_price": dec(staged.stop_price), "tif": staged.tif.value, "for_trader": staged.for_trader, "note": staged.note,
        "staged_by": staged.actor.user, "staged_at": iso(staged.ts), "status": order.status, "trader": order.trader,
        "order_id": order.order_id or None, "reason": order.reason, "updated_at": iso(order.updated_ts),
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
