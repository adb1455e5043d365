"""Second review: the engine runtime (pipeline, fail-closed, restart).

Each test drives a real OMS (its journal on SQLite and on PostgreSQL, the ``store`` fixture;
simulated venue) in one asyncio loop and bounds every await, so a hang shows up as a failure
instead of a stuck run.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from openoms.bootstrap import OMS, build
from openoms.config import Config
from openoms.demo import SIM, demo_reference
from openoms.domain import commands as cmd
from openoms.domain import events as ev
from openoms.domain.engine import OrderEngine
from openoms.domain.ids import AccountId, ClientOrderId, ExecId, OrderId, RouteId, Symbol, VenueOrderId
from openoms.domain.rejects import RejectCode
from openoms.domain.values import Side, TimeInForce
from openoms.service.runtime import EngineUnavailable
from stores import Store

TRADER = cmd.Actor("demo", "test")
VENUE = cmd.Actor("SIM", "venue")
TIMEOUT = 3.0


def config(store: Store, market_data: bool = False, interval_ms: int = 60_000) -> Config:
    # Without market data the price collar cannot be evaluated (and refuses every priced order).
    limits = None if market_data else Path(__file__).resolve().parents[1] / "limits_without_collar.toml"
    return store.config(market_data=market_data, market_data_interval_ms=interval_ms,
                        gc_threshold=0, gil_switch_interval_us=0, limits_file=limits)


def submit(cl_ord_id: str, qty: str = "10", price: str = "100.00", tif: TimeInForce = TimeInForce.DAY) -> cmd.SubmitOrder:
    return cmd.SubmitOrder(actor=TRADER, account=AccountId("ACC-EQ-1"), cl_ord_id=ClientOrderId(cl_ord_id),
                           symbol=Symbol("AAPL"), side=Side.BUY, quantity=Decimal(qty), price=Decimal(price), tif=tif)


class GatedJournal:
    """The store's journal (SQLite or PostgreSQL) whose commits can be held back, to keep batches in flight."""

    def __init__(self, store: Store) -> None:
        self.inner = store.journal()
        self.gate = threading.Event()
        self.gate.set()

    def append(self, events: Sequence[ev.Event]) -> None:
        self.gate.wait(10)
        self.inner.append(events)

    def __getattr__(self, name: str) -> Any:  # everything else is the real journal's
        return getattr(self.inner, name)


async def wait_until(predicate, timeout: float = TIMEOUT) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


async def stop(oms: OMS) -> None:
    for task in oms._tasks:
        task.cancel()
    if oms.runtime._task is not None and oms.runtime._task.done():
        oms.runtime.running = False  # the engine task is gone; do not wait for a drain that cannot happen
    with __import__("contextlib").suppress(Exception):
        await asyncio.wait_for(oms.stop(), TIMEOUT)


async def filled_order(oms: OMS) -> ExecId:
    """O1 bought 10 @ 100 and filled in full by a venue report (exec id E1)."""
    outcome = await asyncio.wait_for(oms.runtime.execute(submit("C1")), TIMEOUT)
    assert outcome.rejected is None
    fill = cmd.VenueFilled(actor=VENUE, route_id=RouteId("O1-1"), exec_id=ExecId("E1"),
                           last_qty=Decimal(10), last_px=Decimal("100.00"))
    outcome = await asyncio.wait_for(oms.runtime.execute(fill), TIMEOUT)
    assert outcome.rejected is None
    return ExecId("E1")


# --- 1. an exception while rendering a reply kills the engine task silently -------------------


def test_reply_rendering_error_does_not_kill_the_engine_silently(store: Store) -> None:
    """A trade correction to an infinite quantity is accepted by the engine (it only checks > 0),
    then rendering the reply (AvgPx = Infinity / Infinity) raises in ``_run`` outside its
    try/except. The engine task dies: runtime.failure stays None (/health says ok) and every
    command after it waits forever. Expected: the command is refused (or the engine fails closed),
    and a later command is still answered."""

    async def scenario() -> None:
        oms = build(config(store))
        await oms.start()
        try:
            exec_id = await filled_order(oms)
            correction = cmd.VenueTradeCorrected(actor=TRADER, exec_id=exec_id, last_qty=Decimal("Infinity"),
                                                 last_px=Decimal("100.00"))
            try:
                outcome = await asyncio.wait_for(oms.runtime.execute(correction), TIMEOUT)
                assert outcome.rejected is not None, "an infinite correction must be refused"
            except EngineUnavailable:
                pass
            except TimeoutError:
                pytest.fail("the correction was never answered: the engine task died "
                            f"(failure={oms.runtime.failure!r}, task done={oms.runtime._task.done()})")  # type: ignore[union-attr]
            # Whatever happened, the next caller gets an answer (201 or 503), never a hang.
            with contextlib.suppress(EngineUnavailable):
                await asyncio.wait_for(oms.runtime.execute(submit("C2")), TIMEOUT)
        finally:
            await stop(oms)

    asyncio.run(scenario())


def test_gtd_expire_at_after_year_9999_utc_is_answered(store: Store) -> None:
    """expire_at 9999-12-31T23:59:59-01:00 (= year 10000 UTC) is accepted by the engine; the reply's
    order view calls iso(expire_at) which raises ValueError inside ``_run`` and the engine task
    dies. Expected: a refusal (INVALID_TIME_IN_FORCE) and a live engine."""

    async def scenario() -> None:
        oms = build(config(store))
        await oms.start()
        try:
            far = 253_402_304_399 * 1_000_000_000  # 10000-01-01T00:59:59Z in ns
            command = cmd.SubmitOrder(actor=TRADER, account=AccountId("ACC-EQ-1"), cl_ord_id=ClientOrderId("G1"),
                                      symbol=Symbol("AAPL"), side=Side.BUY, quantity=Decimal(10),
                                      price=Decimal("100.00"), tif=TimeInForce.GTD, expire_at=far)
            try:
                outcome = await asyncio.wait_for(oms.runtime.execute(command), TIMEOUT)
            except TimeoutError:
                pytest.fail("submit never answered: the engine task died while rendering the reply")
            assert outcome.rejected is not None
            outcome = await asyncio.wait_for(oms.runtime.execute(submit("C2")), TIMEOUT)
            assert outcome.rejected is None
        finally:
            await stop(oms)

    asyncio.run(scenario())


# --- 2. an engine error leaves the other callers of the same batch hanging -----------------


def test_engine_error_answers_every_caller_of_the_failed_batch(store: Store) -> None:
    """When ``engine.handle`` raises, ``_run`` answers only the failing command and the inbox;
    the commands already decided in the same (unsent) batch keep futures nobody resolves, so
    their HTTP requests hang forever. Input: a valid submit and a correction with last_qty NaN
    queued together (one batch)."""

    async def scenario() -> None:
        oms = build(config(store))
        await oms.start()
        try:
            exec_id = await filled_order(oms)
            bad = cmd.VenueTradeCorrected(actor=TRADER, exec_id=exec_id, last_qty=Decimal("NaN"), last_px=Decimal(1))
            first = asyncio.ensure_future(oms.runtime.execute(submit("C2")))
            second = asyncio.ensure_future(oms.runtime.execute(bad))
            done, pending = await asyncio.wait({first, second}, timeout=TIMEOUT)
            for task in pending:
                task.cancel()
            assert first in done, "the submit decided in the same batch as the failing command was never answered"
            assert second in done
        finally:
            await stop(oms)

    asyncio.run(scenario())


# --- 3. pipelining: a venue is sent an order the engine has already expired ------------------


def test_fill_for_an_order_expired_while_its_route_was_in_flight_is_not_dropped(store: Store) -> None:
    """max_inflight > 1: batch 1 (submit of a marketable DAY buy) is being fsynced when batch 2
    (EndOfDay) is decided; in memory the order is already Expired. Batch 1 then commits and is
    dispatched: the simulated venue (session still open) fills it at once. The fill is decided
    after the expiry and refused as UNEXPECTED_REPORT: the venue executed a trade the OMS never
    books (no execution, no position). Expected: the venue's execution is booked."""

    async def scenario() -> None:
        journal = GatedJournal(store)
        oms = build(config(store, market_data=True), journal=journal)
        await oms.start()
        runtime = oms.runtime
        try:
            journal.gate.clear()
            order = asyncio.ensure_future(runtime.execute(submit("M1", qty="10", price="245.00")))
            await wait_until(lambda: runtime._inflight == 1)
            eod = asyncio.ensure_future(runtime.execute(cmd.EndOfDay(actor=TRADER)))
            await wait_until(lambda: runtime._inflight == 2)
            journal.gate.set()
            await asyncio.wait_for(asyncio.gather(order, eod), TIMEOUT)
            await asyncio.wait_for(runtime.drain(), TIMEOUT)

            venue_book = oms.venues[SIM].book("AAPL")
            assert venue_book is not None
            dropped = [e for e in journal.events() if isinstance(e, ev.CommandRejected) and e.command == "VenueFilled"]
            assert not dropped, f"venue fills refused by the engine: {[e.reason.message for e in dropped]}"
            assert oms.engine.executions, "the venue executed the order but the OMS booked no execution"
        finally:
            await stop(oms)

    asyncio.run(scenario())


# --- 4. reads see state that is not durable yet ----------------------------------------------


def test_order_is_not_visible_to_readers_before_it_is_durable(store: Store) -> None:
    """GET /api/v1/orders and /orders/{id} read engine memory, which runs ahead of the journal.
    While the submit's batch is still being written, the order is already listed (and O1 can be
    canceled by id). After a kill -9 at that moment, O1 is gone and the next order is O1 again:
    a client that saw O1 now addresses a different order. Expected: readers see only committed
    state (README: nothing leaves the process before its events are durable)."""
    import httpx

    from openoms.api.rest import create_app

    async def scenario() -> None:
        journal = GatedJournal(store)
        oms = build(config(store), journal=journal)
        await oms.start()
        app = create_app(oms, trusted_header=True)
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://oms") as client:
                journal.gate.clear()
                body = {"account": "ACC-EQ-1", "symbol": "AAPL", "side": "buy", "quantity": "10", "price": "100.00"}
                posted = asyncio.ensure_future(client.post("/api/v1/orders", json=body))
                await wait_until(lambda: oms.runtime._inflight == 1)
                assert oms.runtime.committed_seq < oms.engine.seq  # the order is decided, not durable
                listed = await client.get("/api/v1/orders")
                one = await client.get("/api/v1/orders/O1")
                journal.gate.set()
                await asyncio.wait_for(posted, TIMEOUT)
                assert listed.json()["count"] == 0, "an order that is not durable yet was listed"
                assert one.status_code == 404, "an order that is not durable yet was served"
        finally:
            journal.gate.set()
            await stop(oms)

    asyncio.run(scenario())


# --- 5. restart: a pending cancel that the venue never answered is stuck forever ----------------


def test_cancel_pending_at_a_crash_does_not_leave_the_order_stuck_after_restart(store: Store) -> None:
    """kill -9 after a cancel was acknowledged (CancelRequested durable, 202 sent) but before the
    venue's answer was journaled. On restart restore_venues() puts the route back on the book but
    never re-sends the cancel, so the order stays PendingCancel for good, and every new cancel is
    refused ALREADY_PENDING (409). Expected: the order can be canceled after the restart."""
    engine = OrderEngine(demo_reference(), default_venue=SIM)
    journal = store.journal()
    now = 1_780_000_000_000_000_000
    events: list[ev.Event] = []
    events += engine.handle(submit("C1", tif=TimeInForce.GTC), now)
    events += engine.handle(cmd.VenueAccepted(actor=VENUE, route_id=RouteId("O1-1"), venue_order_id=VenueOrderId("V1")), now + 1)
    events += engine.handle(cmd.CancelOrder(actor=TRADER, order_id=OrderId("O1")), now + 2)
    journal.append(events)
    journal.close()
    assert engine.orders[OrderId("O1")].status.value == "pending_cancel"

    async def scenario() -> None:
        oms = build(config(store))
        await oms.start()
        try:
            await asyncio.wait_for(oms.runtime.drain(), TIMEOUT)
            outcome = await asyncio.wait_for(
                oms.runtime.execute(cmd.CancelOrder(actor=TRADER, order_id=OrderId("O1"))), TIMEOUT
            )
            await asyncio.wait_for(oms.runtime.drain(), TIMEOUT)
            order = oms.engine.orders[OrderId("O1")]
            assert outcome.rejected is None or outcome.rejected.code is not RejectCode.ALREADY_PENDING, (
                f"order stuck in {order.status.value}: {outcome.rejected}"
            )
            assert order.status.value == "canceled", order.status.value
        finally:
            await stop(oms)

    asyncio.run(scenario())


# --- 6. restart after the close: the venue session reopens and fills DoneForDay orders ----------


def test_restart_after_end_of_day_does_not_fill_done_for_day_orders(store: Store) -> None:
    """The journal ends with EndOfDay (GTC order DoneForDay, DayEnded). On restart the routes of
    DoneForDay orders are restored at the simulated venue, but its session is opened again
    (set_session_open is only driven by dispatch, never by replay). The next quote crosses the
    GTC buy, the venue fills it, and the engine refuses the fill (DoneForDay takes no fills):
    a trade executed at the venue is dropped. Expected: the venue stays closed until
    StartOfDay (no fill), or the fill is booked."""
    engine = OrderEngine(demo_reference(), default_venue=SIM)
    journal = store.journal()
    now = 1_780_000_000_000_000_000
    events: list[ev.Event] = []
    events += engine.handle(submit("C1", qty="10", price="245.00", tif=TimeInForce.GTC), now)
    events += engine.handle(cmd.VenueAccepted(actor=VENUE, route_id=RouteId("O1-1"), venue_order_id=VenueOrderId("V1")), now + 1)
    events += engine.handle(cmd.EndOfDay(actor=TRADER), now + 2)
    journal.append(events)
    journal.close()
    assert engine.orders[OrderId("O1")].status.value == "done_for_day"

    async def scenario() -> None:
        oms = build(config(store, market_data=True, interval_ms=20))
        await oms.start()
        try:
            await asyncio.sleep(0.3)  # a few market data ticks
            await asyncio.wait_for(oms.runtime.drain(), TIMEOUT)
            dropped = [e for e in oms.journal.events() if isinstance(e, ev.CommandRejected) and e.command == "VenueFilled"]
            assert not dropped, f"venue fills refused by the engine: {[e.reason.message for e in dropped]}"
            assert oms.venues[SIM].session_open is False, "the venue session reopened on restart after the close"
        finally:
            await stop(oms)

    asyncio.run(scenario())
