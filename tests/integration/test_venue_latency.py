"""Simulated venue latency as a real delay (``sim_latency_us``): requests reach the venue's book
and its answers reach the engine that long later, on the event loop. A fill the market makes
while a replace or cancel is on its way crosses it; the order must end consistent (cum qty,
leaves, status, journal) whatever crossed. `oms serve`'s wiring, in process, with its real
journal, engine loop and simulated venues; quotes are put to the venue by the test (the
simulator's beat is an hour, so only the opening quote is its own)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from openoms.bootstrap import OMS, build
from openoms.config import Config
from openoms.domain import commands as cmd
from openoms.domain import events as ev
from openoms.domain.ids import AccountId, ClientOrderId, OrderId, Symbol
from openoms.domain.lifecycle import OrdStatus
from openoms.domain.values import Side
from openoms.service.ports import Quote

D = Decimal
ACTOR = cmd.Actor("demo", "test")
LATENCY_MS = 60
ROUTING = f"""
[[venues]]
venue_id = "SIM-A"
sim_latency_us = {LATENCY_MS * 1000}

[[venues]]
venue_id = "SIM-B"
"""


def offer(price: str, size: int) -> Quote:
    """SIM-A's market in AAPL: one offer (and a bid well under it)."""
    return Quote(symbol=Symbol("AAPL"), ts=time.time_ns(), bid=D("100"), ask=D(price), bid_size=D(100), ask_size=D(size),
                 last=D(price), last_size=D(0), volume=D(0), bids=((D("100"), D(100)),), asks=((D(price), D(size)),))


async def with_oms(tmp_path: Path, body: Callable[[OMS], Awaitable[None]]) -> None:
    path = tmp_path / "routing.toml"
    path.write_text(ROUTING)
    oms = build(Config(data_dir=tmp_path / "data", routing_file=path, market_data_interval_ms=3_600_000))
    await oms.start()
    try:
        await body(oms)
    finally:
        await oms.stop()


async def settled(oms: OMS, order_id: OrderId, check: Callable[[Any], bool], what: str) -> Any:
    deadline = time.monotonic() + 5
    while True:
        order = oms.engine.orders[order_id]
        if check(order):
            return order
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: order is {order.working} cum {order.cum_qty} pending {order.pending}")
        await asyncio.sleep(0.005)


async def resting_buy(oms: OMS, quantity: str = "100") -> OrderId:
    """A buy at 190.00 on SIM-A, acknowledged (after the round trip) and resting."""
    oms.venues["SIM-A"].on_quote(offer("195.00", 1000))  # nothing at or under the limit: it rests
    started = time.monotonic()
    outcome = await oms.runtime.execute(cmd.SubmitOrder(
        actor=ACTOR, account=AccountId("ACC-EQ-1"), cl_ord_id=ClientOrderId(f"C{time.time_ns()}"), symbol=Symbol("AAPL"),
        side=Side.BUY, quantity=D(quantity), price=D("190.00"), route="SIM-A"))
    assert outcome.rejected is None, outcome.rejected
    order_id = OrderId(outcome.order["order_id"] if outcome.order else "")
    order = oms.engine.orders[order_id]
    assert order.working is OrdStatus.PENDING_NEW  # the ack is on its way back, not given in the call
    await settled(oms, order_id, lambda o: o.working is OrdStatus.NEW, "the ack")
    assert time.monotonic() - started >= 2 * LATENCY_MS / 1000 * 0.9  # in and out
    return order_id


async def events_of(oms: OMS, order_id: OrderId) -> list[ev.Event]:
    await oms.runtime.drain()  # the engine's state can be a commit ahead of the journal
    return [e for e in oms.journal.events() if getattr(e, "order_id", None) == order_id]


def consistent(order: Any) -> None:
    """What every order must show, whatever crossed: the fills add up, the leaves are what is left."""
    assert order.cum_qty == sum((execution.quantity for execution in order.executions.values()), D(0))
    if order.working in (OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.REJECTED, OrdStatus.EXPIRED):
        assert order.leaves_qty == 0
    else:
        assert order.leaves_qty == order.quantity - order.cum_qty > 0
    assert order.pending is None


def test_a_replace_crossed_by_a_full_fill_is_too_late_and_the_order_is_filled(tmp_path: Path) -> None:
    async def body(oms: OMS) -> None:
        order_id = await resting_buy(oms)
        outcome = await oms.runtime.execute(cmd.ReplaceOrder(actor=ACTOR, order_id=order_id, cl_ord_id=ClientOrderId("R1"),
                                                             quantity=D(150)))
        assert outcome.rejected is None
        # The replace is on its way to the venue; the market trades through the order first.
        oms.venues["SIM-A"].on_quote(offer("189.90", 500))
        assert oms.engine.orders[order_id].working is OrdStatus.NEW  # the venue filled it; the engine does not know yet
        order = await settled(oms, order_id, lambda o: o.working is OrdStatus.FILLED and o.pending is None, "fill and reject")
        assert (order.cum_qty, order.leaves_qty, order.quantity) == (D(100), D(0), D(100))
        consistent(order)
        kinds = [type(e).__name__ for e in (await events_of(oms, order_id))]
        assert kinds.index("ReplaceRequested") < kinds.index("OrderFilled") < kinds.index("ReplaceRejected")
        [rejected] = [e for e in (await events_of(oms, order_id)) if isinstance(e, ev.ReplaceRejected)]
        assert "too late" in rejected.reason.message

    asyncio.run(with_oms(tmp_path, body))


def test_a_replace_crossed_by_a_partial_fill_applies_to_what_is_left(tmp_path: Path) -> None:
    async def body(oms: OMS) -> None:
        order_id = await resting_buy(oms)
        await oms.runtime.execute(cmd.ReplaceOrder(actor=ACTOR, order_id=order_id, cl_ord_id=ClientOrderId("R2"),
                                                   quantity=D(150)))
        oms.venues["SIM-A"].on_quote(offer("189.90", 40))  # 40 trade while the replace is on its way
        order = await settled(oms, order_id, lambda o: o.pending is None and o.quantity == D(150), "fill and replace")
        assert (order.working, order.cum_qty, order.leaves_qty) == (OrdStatus.PARTIALLY_FILLED, D(40), D(110))
        consistent(order)
        kinds = [type(e).__name__ for e in (await events_of(oms, order_id))]
        assert kinds.index("OrderFilled") < kinds.index("OrderReplaced")
        # The venue holds the same: 110 left at the new quantity, which the next offer fills.
        oms.venues["SIM-A"].on_quote(offer("189.95", 1000))
        order = await settled(oms, order_id, lambda o: o.working is OrdStatus.FILLED, "the rest")
        assert (order.cum_qty, order.leaves_qty) == (D(150), D(0))

    asyncio.run(with_oms(tmp_path, body))


@pytest.mark.parametrize("size", [100, 30])
def test_a_cancel_crossed_by_a_fill(tmp_path: Path, size: int) -> None:
    async def body(oms: OMS) -> None:
        order_id = await resting_buy(oms)
        await oms.runtime.execute(cmd.CancelOrder(actor=ACTOR, order_id=order_id))
        oms.venues["SIM-A"].on_quote(offer("189.90", size))
        order = await settled(oms, order_id, lambda o: o.pending is None and o.working in (OrdStatus.FILLED, OrdStatus.CANCELED),
                              "fill and cancel answer")
        assert order.cum_qty == D(size)
        assert order.working is (OrdStatus.FILLED if size == 100 else OrdStatus.CANCELED)
        consistent(order)
        assert not oms.venues["SIM-A"].book("AAPL").is_live(next(iter(order.routes)))  # type: ignore[union-attr]

    asyncio.run(with_oms(tmp_path, body))


def test_a_venue_without_latency_still_answers_inside_the_call(tmp_path: Path) -> None:
    async def body(oms: OMS) -> None:
        oms.venues["SIM-B"].on_quote(offer("195.00", 1000))
        outcome = await oms.runtime.execute(cmd.SubmitOrder(
            actor=ACTOR, account=AccountId("ACC-EQ-1"), cl_ord_id=ClientOrderId("NOLAT"), symbol=Symbol("AAPL"),
            side=Side.BUY, quantity=D(100), price=D("190.00"), route="SIM-B"))
        order_id = OrderId(outcome.order["order_id"] if outcome.order else "")
        await settled(oms, order_id, lambda o: o.working is OrdStatus.NEW, "the ack")
        assert oms.venues["SIM-B"].latency_s == 0 and oms.venues["SIM-A"].latency_s == LATENCY_MS / 1000

    asyncio.run(with_oms(tmp_path, body))


async def resting_split(oms: OMS) -> OrderId:
    """A buy of 300 the SOR splits over SIM-A (slow) and SIM-B, both children resting."""
    now = time.time_ns()
    for venue_id, price in (("SIM-A", "190.00"), ("SIM-B", "190.01")):
        oms.market_book.update(venue_id, Quote(
            symbol=Symbol("AAPL"), ts=now, bid=D("189"), ask=D(price), bid_size=D(100), ask_size=D(100), last=D(price),
            last_size=D(0), volume=D(0), bids=((D("189"), D(100)),), asks=((D(price), D(100)),)))
        oms.venues[venue_id].set_session_open(False)  # the children rest
    outcome = await oms.runtime.execute(cmd.SubmitOrder(
        actor=ACTOR, account=AccountId("ACC-EQ-1"), cl_ord_id=ClientOrderId("SPLIT"), symbol=Symbol("AAPL"),
        side=Side.BUY, quantity=D(300), price=D("190.05"), route="sor"))
    assert outcome.rejected is None, outcome.rejected
    order_id = OrderId(outcome.order["order_id"] if outcome.order else "")
    order = await settled(oms, order_id, lambda o: len(o.routes) == 2 and all(r.venue_order_id for r in o.routes.values()),
                          "both children acknowledged")
    assert {route.venue for route in order.routes.values()} == {"SIM-A", "SIM-B"}
    return order_id


def test_a_split_order_is_replaced_through_the_runtime_with_a_slow_venue(tmp_path: Path) -> None:
    """The runtime sends the cancels a split replace names (SIM-A's answer comes late) and routes the rest."""
    async def body(oms: OMS) -> None:
        order_id = await resting_split(oms)
        await oms.runtime.execute(cmd.ReplaceOrder(actor=ACTOR, order_id=order_id, cl_ord_id=ClientOrderId("SPLIT-R"),
                                                   quantity=D(150)))
        order = await settled(oms, order_id, lambda o: o.pending is None, "the replace")
        assert order.quantity == D(150) and order.status is OrdStatus.NEW
        open_routes = {route.route_id: route.quantity - route.cum_qty for route in order.routes.values() if not route.done}
        assert sum(open_routes.values(), D(0)) == D(150)

        def live() -> set[str]:
            return {route_id for venue in oms.venues.values() for route_id in order.routes
                    if venue.book("AAPL") is not None and venue.book("AAPL").is_live(route_id)}  # type: ignore[union-attr]

        await settled(oms, order_id, lambda o: live() == set(open_routes), "the venues to hold the open children")

    asyncio.run(with_oms(tmp_path, body))


def test_a_split_replace_pending_at_a_restart_is_finished_after_it(tmp_path: Path) -> None:
    """Stopped while the cancel of the largest child (at slow SIM-A) is on its way: after the
    restart the child is restored at its venue, the cancel is sent again, and the replace completes."""
    order_id = OrderId("")

    async def before(oms: OMS) -> None:
        nonlocal order_id
        order_id = await resting_split(oms)
        outcome = await oms.runtime.execute(cmd.ReplaceOrder(actor=ACTOR, order_id=order_id, cl_ord_id=ClientOrderId("SPLIT-R"),
                                                             quantity=D(150)))
        assert outcome.rejected is None
        order = oms.engine.orders[order_id]
        assert order.pending is not None and len(order.replace_cancels) == 1, [(r.route_id, r.venue, r.quantity) for r in order.routes.values()]
        child = order.routes[order.replace_cancels[0]]
        assert child.venue == "SIM-A" and oms.venues["SIM-A"].book("AAPL").is_live(child.route_id)  # type: ignore[union-attr]

    async def after(oms: OMS) -> None:
        order = await settled(oms, order_id, lambda o: o.pending is None, "the replace after the restart")
        assert order.quantity == D(150) and order.status is OrdStatus.NEW
        open_routes = {route.route_id for route in order.routes.values() if not route.done}
        assert sum((order.routes[r].quantity - order.routes[r].cum_qty for r in open_routes), D(0)) == D(150)

        def live() -> set[str]:
            return {route_id for venue in oms.venues.values() for route_id in order.routes
                    if venue.book("AAPL") is not None and venue.book("AAPL").is_live(route_id)}  # type: ignore[union-attr]

        await settled(oms, order_id, lambda o: live() == open_routes, "the venues to hold the open children")

    asyncio.run(with_oms(tmp_path, before))
    asyncio.run(with_oms(tmp_path, after))


def test_a_rules_change_over_the_api_changes_a_running_venues_delay(tmp_path: Path) -> None:
    async def body(oms: OMS) -> None:
        assert oms.venues["SIM-B"].latency_s == 0
        outcome = await oms.runtime.execute(cmd.SetRoutingRules(actor=ACTOR, reason="slower B", rules=ROUTING.replace(
            'venue_id = "SIM-B"\n', f'venue_id = "SIM-B"\nsim_latency_us = {LATENCY_MS * 1000}\n')))
        assert outcome.rejected is None, outcome.rejected
        assert oms.venues["SIM-B"].latency_s == LATENCY_MS / 1000
        oms.venues["SIM-B"].on_quote(offer("195.00", 1000))
        started = time.monotonic()
        submitted = await oms.runtime.execute(cmd.SubmitOrder(
            actor=ACTOR, account=AccountId("ACC-EQ-1"), cl_ord_id=ClientOrderId("SLOWB"), symbol=Symbol("AAPL"),
            side=Side.BUY, quantity=D(100), price=D("190.00"), route="SIM-B"))
        order_id = OrderId(submitted.order["order_id"] if submitted.order else "")
        assert oms.engine.orders[order_id].working is OrdStatus.PENDING_NEW
        await settled(oms, order_id, lambda o: o.working is OrdStatus.NEW, "the ack")
        assert time.monotonic() - started >= 2 * LATENCY_MS / 1000 * 0.9
        await oms.runtime.execute(cmd.SetRoutingRules(actor=ACTOR, reason="back", rules=ROUTING))
        assert oms.venues["SIM-B"].latency_s == 0

    asyncio.run(with_oms(tmp_path, body))
