"""The engine runtime with a real journal, each test on SQLite and on PostgreSQL: venue gateways
that fail, readers that wait for durability, clean stop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import pytest

from openoms.bootstrap import build
from openoms.config import Config
from openoms.demo import SIM
from openoms.domain import commands as cmd
from openoms.domain.ids import AccountId, ClientOrderId, OrderId, RouteId, Symbol
from openoms.domain.lifecycle import OrdStatus
from openoms.domain.rejects import RejectCode
from openoms.domain.values import Side
from openoms.service.ports import RouteRequest
from openoms.service.runtime import EngineUnavailable
from stores import Store

TRADER = cmd.Actor("demo", "test")
NO_MARKET_LIMITS = Path(__file__).resolve().parents[1] / "limits_without_collar.toml"


def submit(cl_ord_id: str) -> cmd.SubmitOrder:
    return cmd.SubmitOrder(actor=TRADER, account=AccountId("ACC-EQ-1"), cl_ord_id=ClientOrderId(cl_ord_id),
                           symbol=Symbol("AAPL"), side=Side.BUY, quantity=Decimal(10), price=Decimal("1.00"))


class BrokenGateway:
    """A venue connection that fails on every call (a dropped socket, a bug in an adapter)."""

    venue_id = SIM

    def new_order(self, route: RouteRequest) -> None:
        raise ConnectionError("socket closed")

    def cancel(self, route_id: RouteId) -> None:
        raise ConnectionError("socket closed")

    def replace(self, route_id: RouteId, quantity: Decimal, price: Decimal | None, stop_price: Decimal | None) -> None:
        raise ConnectionError("socket closed")

    def expire(self, route_id: RouteId) -> None:
        raise ConnectionError("socket closed")

    def set_session_open(self, is_open: bool) -> None:
        pass

    def restore(self, routes: Sequence[RouteRequest]) -> None:
        pass


def config(store: Store) -> Config:
    return store.config(market_data=False, limits_file=NO_MARKET_LIMITS)


def test_a_failing_venue_gateway_rejects_the_route_and_the_engine_keeps_going(store: Store) -> None:
    async def scenario() -> None:
        oms = build(config(store))
        await oms.start()
        oms.runtime.venues = {SIM: BrokenGateway()}
        try:
            outcome = await oms.runtime.execute(submit("B1"))
            assert outcome.rejected is None  # accepted by the OMS, then the venue could not be told
            await oms.runtime.drain()
            order = oms.engine.orders[OrderId("O1")]
            assert order.status is OrdStatus.REJECTED
            assert "socket closed" in order.text
            assert oms.runtime.failure is None
            second = await oms.runtime.execute(submit("B2"))
            assert second.rejected is None
        finally:
            await oms.stop()

    asyncio.run(scenario())


def test_cancel_that_cannot_reach_the_venue_is_refused_and_the_order_stays_working(store: Store) -> None:
    async def scenario() -> None:
        oms = build(config(store))
        await oms.start()
        try:
            await oms.runtime.execute(submit("W1"))
            await oms.runtime.drain()
            assert oms.engine.orders[OrderId("O1")].status is OrdStatus.NEW
            oms.runtime.venues = {SIM: BrokenGateway()}
            await oms.runtime.execute(cmd.CancelOrder(actor=TRADER, order_id=OrderId("O1")))
            await oms.runtime.drain()
            order = oms.engine.orders[OrderId("O1")]
            assert order.status is OrdStatus.NEW and order.pending is None
            assert "socket closed" in order.text
        finally:
            await oms.stop()

    asyncio.run(scenario())


def test_readers_waiting_for_durability_get_503_when_the_journal_fails(store: Store) -> None:
    async def scenario() -> None:
        oms = build(config(store))
        await oms.start()
        try:
            oms.journal._conn.close()  # type: ignore[attr-defined]
            pending = asyncio.ensure_future(oms.runtime.execute(submit("F1")))
            waiter = asyncio.ensure_future(oms.runtime.wait_durable(oms.runtime.committed_seq + 2))
            for future in (pending, waiter):
                with pytest.raises(EngineUnavailable) as caught:
                    await asyncio.wait_for(future, 5)
                assert caught.value.reject.code is RejectCode.ENGINE_UNAVAILABLE
            with pytest.raises(EngineUnavailable):
                await oms.runtime.wait_durable(oms.engine.seq + 1)
        finally:
            await oms.stop()

    asyncio.run(scenario())


def test_stop_drains_queued_commands_into_the_journal(store: Store) -> None:
    async def scenario() -> int:
        oms = build(config(store))
        await oms.start()
        for i in range(200):
            oms.runtime.post(submit(f"Q{i}"))
        await oms.stop()
        return oms.engine.seq

    last = asyncio.run(scenario())
    reopened = build(config(store))
    report = reopened.recover()
    assert report.last_seq == last
    assert len(reopened.engine.orders) == 200
    reopened.journal.close()
