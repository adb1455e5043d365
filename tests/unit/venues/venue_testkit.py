"""Builders shared by the simulated-venue tests: instruments, routes and quotes with terse defaults."""

from __future__ import annotations

from decimal import Decimal

from openoms.domain.ids import AccountId, OrderId, RouteId, Symbol
from openoms.domain.instruments import AssetClass, Instrument
from openoms.domain.values import OrdType, Side, TimeInForce
from openoms.service.ports import Quote, RouteRequest
from openoms.venues.simulated.book import BookReport, Fill

D = Decimal
STOCK = Instrument(Symbol("AAPL"), AssetClass.EQUITY, "USD", D("0.01"), D(1), "Apple Inc.")
# A lot of 100 makes "never a fraction of a lot" observable.
ROUND_LOT = Instrument(Symbol("RLOT"), AssetClass.EQUITY, "USD", D("0.01"), D(100), "Round-lot stock")

_ts = [0]


def route(
    route_id: str,
    side: Side | str,
    quantity: int | str | Decimal,
    price: str | Decimal | None = None,
    *,
    ord_type: OrdType | None = None,
    tif: TimeInForce = TimeInForce.DAY,
    stop: str | Decimal | None = None,
    cum: int | str | Decimal = 0,
    symbol: str = "AAPL",
) -> RouteRequest:
    if ord_type is None:
        ord_type = OrdType.LIMIT if price is not None else OrdType.MARKET
    return RouteRequest(
        route_id=RouteId(route_id),
        order_id=OrderId("O-" + route_id),
        account=AccountId("ACC-1"),
        symbol=Symbol(symbol),
        side=Side(side),
        quantity=D(quantity),
        ord_type=ord_type,
        price=None if price is None else D(price),
        stop_price=None if stop is None else D(stop),
        tif=tif,
        cum_qty=D(cum),
    )


def quote(
    bids: list[tuple[str, int]] | None = None,
    asks: list[tuple[str, int]] | None = None,
    *,
    last: str | None = None,
    halted: bool = False,
    symbol: str = "AAPL",
) -> Quote:
    """A quote with the given depth (best first); each call gets a new timestamp."""
    _ts[0] += 1
    b = tuple((D(p), D(s)) for p, s in (bids or []))
    a = tuple((D(p), D(s)) for p, s in (asks or []))
    bid = b[0] if b else (D(0), D(0))
    ask = a[0] if a else (D(0), D(0))
    return Quote(
        symbol=Symbol(symbol),
        ts=_ts[0],
        bid=bid[0],
        ask=ask[0],
        bid_size=bid[1],
        ask_size=ask[1],
        last=D(last) if last is not None else (bid[0] or ask[0]),
        last_size=D(1),
        volume=D(1),
        bids=b,
        asks=a,
        halted=halted,
    )


def fills(reports: list[BookReport], route_id: str | None = None) -> list[Fill]:
    return [r for r in reports if isinstance(r, Fill) and (route_id is None or r.route_id == route_id)]


def filled(reports: list[BookReport], route_id: str) -> list[tuple[Decimal, Decimal]]:
    """(qty, price) of every fill of ``route_id``, in order."""
    return [(f.qty, f.price) for f in fills(reports, route_id)]
