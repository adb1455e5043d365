"""One trading day of order events, with each order's state, read from the journal.

A trading day is a UTC calendar date, the same the engine uses for ``trade_date``: an event
belongs to it when its timestamp does. Orders live across days (GTC), so the walk folds every
order event from the start of the journal into ``domain.Order`` objects (the replay's own
``apply``) and hands out only the day's events, each with the order as it stood just before
and just after. Nothing but the journal is read: the export is a pure function of it (and of
the reference data), so the same journal gives the same bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from ..domain import events as ev
from ..domain.accounts import ReferenceData
from ..domain.ids import AccountId, RouteId
from ..domain.order import Order
from ..service.ports import Journal

NS_PER_DAY = 86_400_000_000_000
Progress = Callable[[int], None]


class ExportError(ValueError):
    """The export cannot be made as asked (a bad date, an unreadable journal)."""


def day_bounds(day: str) -> tuple[int, int]:
    """[start, end) of a UTC date in ns since the epoch."""
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        raise ExportError(f"a trading day is YYYY-MM-DD, got {day!r}") from None
    if len(day) != 10:
        raise ExportError(f"a trading day is YYYY-MM-DD, got {day!r}")
    start = int(datetime(parsed.year, parsed.month, parsed.day, tzinfo=UTC).timestamp()) * 1_000_000_000
    return start, start + NS_PER_DAY


def plain(value: Decimal | None) -> str | None:
    """A Decimal as exact positional text (never ``1E+3``), None kept."""
    return None if value is None else format(value, "f")


def record_id(ts: int, seq: int) -> str:
    """A record's id: its UTC date and journal seq, unique and the same on every run."""
    return f"{datetime.fromtimestamp(ts // 1_000_000_000, UTC):%Y%m%d}-{seq:012d}"


def firm_designated_id(firm: str, account: str) -> str:
    """A stable id per account that does not reveal the account number (as CAT asks of an FDID)."""
    return "FDID" + hashlib.sha256(f"{firm}:{account}".encode()).hexdigest()[:16].upper()


@dataclass(frozen=True, slots=True)
class OrderState:
    """What the exports need of an order at one moment."""

    cl_ord_id: str
    orig_cl_ord_id: str | None
    quantity: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    cum_qty: Decimal
    leaves_qty: Decimal
    status: str


def state_of(order: Order) -> OrderState:
    return OrderState(order.cl_ord_id, order.orig_cl_ord_id, order.quantity, order.price, order.stop_price,
                      order.cum_qty, order.leaves_qty, order.status.value)


@dataclass(frozen=True, slots=True)
class DayEvent:
    event: ev.Event
    order: Order  # live object: read what is needed before the next event is taken
    accepted: ev.OrderAccepted
    before: OrderState | None
    after: OrderState
    route_records: dict[RouteId, tuple[int, int]]  # route id -> (seq, ts) of its OrderRouted


def routing_of(order: Order) -> tuple[str, str]:
    """(rule, reason) of the routing decision in force for the order's latest route: the last
    ``RoutingDecided``, or the plain default (journaled by its route alone)."""
    if not order.routing:
        return "default", "no routing rule applies: the instrument's first venue"
    decision = order.routing[-1]
    allocations = ", ".join(f"{venue} {format(quantity, 'f')}" for venue, quantity in decision.allocations)
    return decision.rule, "; ".join((f"{decision.strategy}: {allocations}", *decision.notes))


def firm_of(reference: ReferenceData, account: AccountId) -> str:
    found = reference.accounts.get(account)
    desk = reference.desks.get(found.desk_id) if found is not None else None
    return desk.firm_id if desk is not None else ""


def walk_day(journal: Journal, day: str, progress: Progress | None = None, every: int = 10_000) -> Iterator[DayEvent]:
    """The day's order events in journal order. ``progress`` is told the seq reached every ``every`` events."""
    start, end = day_bounds(day)
    orders: dict[str, Order] = {}
    accepted_of: dict[str, ev.OrderAccepted] = {}
    routes: dict[RouteId, tuple[int, int]] = {}
    count = 0
    for event in journal.events():
        count += 1
        if progress is not None and count % every == 0:
            progress(event.seq)
        kind = type(event)
        in_day = start <= event.ts < end
        if kind is ev.OrderAccepted:
            accepted: ev.OrderAccepted = event  # type: ignore[assignment]
            order = Order(accepted)
            orders[accepted.order_id] = order
            accepted_of[accepted.order_id] = accepted
            if in_day:
                yield DayEvent(event, order, accepted, None, state_of(order), routes)
            continue
        order_id = getattr(event, "order_id", None)
        if order_id is None or kind is ev.CommandRejected:
            continue  # refused requests changed nothing; regulators see orders, not refusals
        found = orders.get(order_id)
        if found is None:
            continue
        before = state_of(found) if in_day else None
        found.apply(event)
        if kind is ev.OrderRouted:
            routes[event.route_id] = (event.seq, event.ts)  # type: ignore[attr-defined]
        if in_day:
            assert before is not None
            yield DayEvent(event, found, accepted_of[order_id], before, state_of(found), routes)
    if progress is not None:
        progress(journal.count())
