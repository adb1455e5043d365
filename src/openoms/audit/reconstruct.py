"""Order reconstruction: every event of one order with who, from where, when, the order's state
before and after, and the market price at that moment.

The state is rebuilt by folding the order's own journal events, in order, into a fresh
``domain.Order`` (the same ``apply`` replay uses), so "before" and "after" are what the
engine held at that seq, not a guess. Used by the REST API, ``oms audit order`` and (later)
the blotter's order history.

The market price: the journal records what the OMS saw, not the whole market feed (that
would be millions of ticks a day). Each entry therefore names its source:
- ``OrderAccepted``: the reference price pre-trade risk judged the order against;
- ``OrderFilled`` / ``TradeCorrected``: the execution price itself;
- ``CancelRequested`` / ``ReplaceRequested``: the market price the OMS saw when asked;
- anything else: the last price the journal saw for the instrument at or before that seq (a
  reference price of any order, or any execution in it), with that record's seq and time,
  so an auditor sees how fresh it was.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import msgspec

from ..domain import events as ev
from ..domain.order import Order
from ..service.views import avg_px_text, dec, order_view
from .index import PriceSeen
from .timefmt import iso_us

PriceAt = Callable[[str, int], PriceSeen | None]
_OWN = frozenset({"seq", "ts", "actor", "type", "order_id"})


class NotAnOrderHistory(ValueError):
    """The events given do not start with the order's acceptance."""


def state_of(order: Order) -> dict[str, Any]:
    """What an order is at one moment: the fields an auditor compares before and after."""
    return {
        "status": order.status.value,
        "cl_ord_id": order.cl_ord_id,
        "quantity": str(order.quantity),
        "price": dec(order.price),
        "stop_price": dec(order.stop_price),
        "cum_qty": str(order.cum_qty),
        "leaves_qty": str(order.leaves_qty),
        "avg_px": avg_px_text(order),
    }


def actor_view(actor: Any) -> dict[str, str]:
    # ``source`` is the channel (rest, fix, cli, venue, engine); ``session`` its address or session id.
    return {"user": actor.user, "channel": actor.source, "address": actor.session}


def event_detail(event: ev.Event) -> dict[str, Any]:
    data = msgspec.to_builtins(event)
    return {key: value for key, value in data.items() if key not in _OWN}


def _market(event: ev.Event, symbol: str, price_at: PriceAt | None, own: PriceSeen | None) -> dict[str, Any] | None:
    kind = type(event)
    if kind is ev.OrderAccepted and event.reference_price is not None:  # type: ignore[attr-defined]
        return {"price": str(event.reference_price), "source": "risk reference price at acceptance",  # type: ignore[attr-defined]
                "seq": event.seq, "time": iso_us(event.ts)}
    if kind is ev.OrderFilled or kind is ev.TradeCorrected:
        return {"price": str(event.last_px), "source": "this execution", "seq": event.seq, "time": iso_us(event.ts)}  # type: ignore[attr-defined]
    if (kind is ev.CancelRequested or kind is ev.ReplaceRequested) and event.market_price is not None:  # type: ignore[attr-defined]
        return {"price": str(event.market_price), "source": "market price when the request was made",  # type: ignore[attr-defined]
                "seq": event.seq, "time": iso_us(event.ts)}
    seen = price_at(symbol, event.seq) if price_at is not None else own
    if seen is None:
        return None
    source = "reference price" if seen.source == "reference" else "execution"
    return {"price": str(seen.price), "source": f"last {source} in the journal for {symbol}", "seq": seen.seq,
            "time": iso_us(seen.ts)}


def routing_history(order: Order, events: Sequence[ev.Event]) -> dict[str, Any]:
    """Each routing decision (the rule or strategy that chose, the allocation, why) and each
    route that ended unfilled. An order routed by the plain default has no decision in the
    journal (its route is the decision): it is shown as such, marked ``implied``."""
    decisions: list[dict[str, Any]] = [
        {"seq": e.seq, "time": iso_us(e.ts), "rule": e.rule, "strategy": e.strategy,
         "allocations": [{"venue": venue, "quantity": str(quantity)} for venue, quantity in e.allocations],
         "notes": list(e.notes)}
        for e in events if type(e) is ev.RoutingDecided]  # type: ignore[attr-defined]
    first = next(iter(order.routes.values()), None)
    if not decisions and first is not None:
        decisions.append({"seq": None, "time": None, "rule": "default", "strategy": "rule",
                          "allocations": [{"venue": first.venue, "quantity": str(first.quantity)}],
                          "notes": ["no routing rule applies: the instrument's first venue"], "implied": True})
    ended = [{"seq": e.seq, "time": iso_us(e.ts), "route_id": e.route_id, "venue": order.routes[e.route_id].venue,  # type: ignore[attr-defined]
              "unfilled": str(order.routes[e.route_id].quantity - order.routes[e.route_id].cum_qty),  # type: ignore[attr-defined]
              "reason": e.reason}  # type: ignore[attr-defined]
             for e in events if type(e) is ev.RouteEnded]
    return {"decisions": decisions, "ended": ended}


def order_history(events: Sequence[ev.Event], price_at: PriceAt | None = None) -> dict[str, Any]:
    """The order as it ends up, its routes and fills, its routing decisions, and one entry per event.

    ``events`` are the order's journal events in seq order (``Order.seqs`` read back with
    ``Journal.events_at``), starting with its ``OrderAccepted``. ``price_at`` looks up the last
    price the journal saw (``AuditIndex.price_at``); without it the order's own reference and
    execution prices are used.
    """
    if not events or type(events[0]) is not ev.OrderAccepted:
        raise NotAnOrderHistory("an order's history starts with its OrderAccepted event")
    accepted: ev.OrderAccepted = events[0]  # type: ignore[assignment]
    order = Order(accepted)
    own: PriceSeen | None = None
    entries: list[dict[str, Any]] = []
    for index, event in enumerate(events):
        before = None if index == 0 else state_of(order)
        # A refused request (CommandRejected) is part of the history but changes nothing, as in the engine.
        if index > 0 and type(event) is not ev.CommandRejected:
            order.apply(event)
        price = _own_price(event, accepted)
        if price is not None:
            own = PriceSeen(price[0], event.seq, event.ts, price[1])
        entries.append({
            "seq": event.seq,
            "time": iso_us(event.ts),
            "type": type(event).__name__,
            "actor": actor_view(event.actor),
            "detail": event_detail(event),
            "before": before,
            "after": state_of(order),
            "market": _market(event, accepted.symbol, price_at, own),
        })
    view = order_view(order)
    view["executions"] = [
        {"exec_id": e.exec_id, "route_id": e.route_id, "quantity": str(e.quantity), "price": str(e.price),
         "liquidity": e.liquidity.value, "busted": e.busted, "time": iso_us(e.ts), "seq": e.seq}
        for e in order.executions.values()
    ]
    return {"order": view, "routing": routing_history(order, events), "events": entries}


def _own_price(event: ev.Event, accepted: ev.OrderAccepted) -> tuple[Decimal, str] | None:
    kind = type(event)
    if kind is ev.OrderAccepted and accepted.reference_price is not None:
        return accepted.reference_price, "reference"
    if kind is ev.OrderFilled or kind is ev.TradeCorrected:
        return event.last_px, "execution"  # type: ignore[attr-defined]
    return None
