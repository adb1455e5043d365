"""After a restart, open orders are reconciled with a venue that kept trading while the OMS was
down (order status requests) before any new order is accepted; fills made meanwhile are booked
once, a route the venue never received is rejected. Real runtime, engine, journal (SQLite and
PostgreSQL) and matching book; the venue outlives the first OMS, as an exchange does."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import pytest

from openoms.bootstrap import OMS, build
from openoms.demo import SIM, demo_reference
from openoms.domain import commands as cmd
from openoms.domain import events as ev
from openoms.domain.ids import AccountId, ClientOrderId, OrderId, RouteId, Symbol
from openoms.domain.lifecycle import OrdStatus
from openoms.domain.values import Side
from openoms.service.ports import Quote, RouteRequest
from openoms.service.runtime import EngineUnavailable
from openoms.venues.simulated.persistent import PersistentSimulatedVenue
from stores import Store

TRADER = cmd.Actor("demo", "test")
NO_MARKET_LIMITS = Path(__file__).resolve().parents[1] / "limits_without_collar.toml"
D = Decimal


def submit(cl_ord_id: str) -> cmd.SubmitOrder:
    return cmd.SubmitOrder(actor=TRADER, account=AccountId("ACC-EQ-1"), cl_ord_id=ClientOrderId(cl_ord_id),
                           symbol=Symbol("AAPL"), side=Side.BUY, quantity=D(10), price=D("100.00"))


def offer(size: str, ts: int) -> Quote:
    """The market offers ``size`` at 100.00: resting buys at 100.00 fill against it."""
    return Quote(symbol=Symbol("AAPL"), ts=ts, bid=D("99.90"), ask=D("100.00"), bid_size=D(100), ask_size=D(size),
                 last=D("100.00"), last_size=D(1), volume=D(0), bids=((D("99.90"), D(100)),), asks=((D("100.00"), D(size)),))


class LostMessages:
    """A connection that drops new orders on the floor (the OMS crashed right after journaling)."""

    venue_id = SIM

    def new_order(self, route: RouteRequest) -> None:
        pass

    def cancel(self, route_id: RouteId) -> None:
        pass

    def replace(self, route_id: RouteId, quantity: Decimal, price: Decimal | None, stop_price: Decimal | None) -> None:
        pass

    def expire(self, route_id: RouteId) -> None:
        pass

    def set_session_open(self, is_open: bool) -> None:
        pass

    def restore(self, routes: Sequence[RouteRequest]) -> None:
        pass


def attach(oms: OMS, venue: PersistentSimulatedVenue) -> None:
    venue.connect(oms.runtime.post)
    oms.venues = {SIM: venue}
    oms.runtime.venues = {SIM: venue}


def test_fills_made_while_down_are_booked_once_before_new_orders(store: Store) -> None:
    config = store.config(market_data=False, limits_file=NO_MARKET_LIMITS)
    venue = PersistentSimulatedVenue(SIM, demo_reference().instruments, lambda report: None, "X1")

    async def before_the_crash() -> cmd.VenueReport:
        oms = build(config)
        attach(oms, venue)
        await oms.start()
        booked: list[cmd.VenueReport] = []
        venue.connect(lambda report: (booked.append(report), oms.runtime.post(report)))  # type: ignore[func-returns-value]
        for name in ("A", "B"):
            await oms.runtime.execute(submit(name))
        await oms.runtime.drain()
        venue.on_quote(offer("4", 1))  # A (first in time) fills 4 while we are up
        await oms.runtime.drain()
        assert oms.engine.orders[OrderId("O1")].cum_qty == 4
        oms.runtime.venues = {SIM: LostMessages()}  # type: ignore[dict-item]
        await oms.runtime.execute(submit("D"))  # journaled and acknowledged, never reaches the venue
        venue.disconnect()
        await oms.stop()
        return next(report for report in booked if isinstance(report, cmd.VenueFilled))

    already_booked = asyncio.run(before_the_crash())
    # While the OMS is down the venue trades on: A's last 6 and 4 of B.
    venue.on_quote(offer("10", 2))
    made_while_down = [report for report in venue.outbox if isinstance(report, cmd.VenueFilled)]
    assert sum(fill.last_qty for fill in made_while_down) == 10
    venue.outbox.append(already_booked)  # a report that crossed the crash comes again: booked once

    async def after_the_restart() -> tuple[OMS, list[ev.Event]]:
        oms = build(config)
        attach(oms, venue)
        await oms.start()
        await oms.runtime.execute(submit("E"))  # the first new order after the restart
        await oms.runtime.drain()
        events = list(oms.journal.events())
        await oms.stop()
        return oms, events

    oms, events = asyncio.run(after_the_restart())
    orders = oms.engine.orders
    a, b, d, e = (orders[OrderId(f"O{i}")] for i in (1, 2, 3, 4))
    assert (a.status, a.cum_qty) == (OrdStatus.FILLED, 10)
    assert (b.status, b.cum_qty) == (OrdStatus.PARTIALLY_FILLED, 4)
    assert d.status is OrdStatus.REJECTED and "never received" in d.text
    assert (e.cl_ord_id, e.status) == ("E", OrdStatus.NEW)
    fills = [event for event in events if isinstance(event, ev.OrderFilled)]
    assert len(fills) == 1 + len(made_while_down)
    assert len({fill.exec_id for fill in fills}) == len(fills)
    assert oms.engine.positions[(AccountId("ACC-EQ-1"), Symbol("AAPL"))].quantity == 14
    # Reconciled before the restart was complete and before the new order was accepted.
    second_start = [event for event in events if isinstance(event, ev.EngineStarted)][-1]
    rejected_d = next(event for event in events if isinstance(event, ev.OrderRejected) and event.order_id == d.order_id)
    accepted_e = next(event for event in events if isinstance(event, ev.OrderAccepted) and event.order_id == e.order_id)
    assert max(fill.seq for fill in fills) < second_start.seq < accepted_e.seq
    assert rejected_d.seq < second_start.seq


def test_a_venue_that_does_not_answer_the_status_request_fails_the_start_closed(store: Store) -> None:
    class Silent(PersistentSimulatedVenue):
        def request_status(self, routes: Sequence[RouteRequest], done: object) -> None:
            pass  # the request is lost; the venue never answers

    config = store.config(market_data=False, limits_file=NO_MARKET_LIMITS, venue_status_timeout_ms=200)

    async def scenario() -> None:
        oms = build(config)
        attach(oms, Silent(SIM, demo_reference().instruments, lambda report: None, "X2"))
        with pytest.raises(EngineUnavailable, match="did not answer the order status request"):
            await oms.start()
        assert oms.runtime.failure is not None
        with pytest.raises(EngineUnavailable):
            await oms.runtime.execute(submit("Z"))
        await oms.stop()

    asyncio.run(scenario())
