"""The SDK's execution-algorithm and staged-order calls against the real app in process: typed
answers with exact decimals, the server's refusals as typed exceptions, bad arguments refused
before anything is sent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from openoms.api.rest import create_app
from openoms.bootstrap import build
from openoms.client import AsyncOmsClient, Conflict, NotFound, OmsClient, OmsInputError, OrderRejected, Release, StagedOrder
from openoms.config import Config


@pytest.fixture
def http(tmp_path: Path) -> Iterator[TestClient]:
    oms = build(Config(data_dir=tmp_path / "data", market_data_interval_ms=50))
    with TestClient(create_app(oms, manage_lifecycle=True, trusted_header=True), raise_server_exceptions=False) as client:
        yield client


def bid_of(client: OmsClient, symbol: str) -> Decimal:
    deadline = time.monotonic() + 10
    while True:  # risk needs a market price: wait for the simulator's first quote
        try:
            return client.quote(symbol).bid
        except NotFound:
            assert time.monotonic() < deadline, "no quote"
            time.sleep(0.02)


def test_a_trader_runs_a_twap_through_the_sdk(http: TestClient) -> None:
    client = OmsClient(http=http, user="alice")
    limit = (bid_of(client, "AAPL") * Decimal("0.95")).quantize(Decimal("0.01"))
    end = datetime.now(UTC) + timedelta(minutes=10)
    algo = client.start_algo("ACC-EQ-1", "AAPL", "buy", 1000, "twap", limit_price=limit, end_at=end, interval_s=60)
    assert (algo.kind, algo.status, algo.quantity, algo.limit_price) == ("twap", "working", Decimal(1000), limit)
    assert algo.children and all(c.parent_id == algo.algo_id for c in algo.children)
    assert [a.algo_id for a in client.list_algos()] == [algo.algo_id]
    assert client.pause_algo(algo.algo_id, "lunch").status == "paused"
    assert client.resume_algo(algo.algo_id).status == "working"
    assert client.modify_algo(algo.algo_id, quantity=800).quantity == Decimal(800)
    done = client.cancel_algo(algo.algo_id, "done for today")
    assert done.status == "done" and client.get_algo(algo.algo_id).status == "done"

    with pytest.raises(OrderRejected, match="end time must be after the start time") as refused:
        client.start_algo("ACC-EQ-1", "AAPL", "buy", 100, "twap", start_at=end, end_at=end - timedelta(minutes=1))
    assert refused.value.code == "INVALID_ALGO"
    with pytest.raises(OmsInputError, match="kind must be one of"):
        client.start_algo("ACC-EQ-1", "AAPL", "buy", 100, "sniper")
    with pytest.raises(OmsInputError, match="not float"):
        client.start_algo("ACC-EQ-1", "AAPL", "buy", 100, "pov", participation_pct=0.1)  # type: ignore[arg-type]
    with pytest.raises(OmsInputError, match="at least one of"):
        client.modify_algo(algo.algo_id)


def test_a_pm_stages_and_a_trader_releases_through_the_sdk(http: TestClient) -> None:
    pm, trader = OmsClient(http=http, user="demo"), OmsClient(http=http, user="alice")
    price = (bid_of(pm, "MSFT") * Decimal("0.95")).quantize(Decimal("0.01"))
    staged = pm.stage_order("ACC-EQ-1", "MSFT", "buy", 25, price=price, for_trader="alice", note="add to winners")
    assert isinstance(staged, StagedOrder) and (staged.status, staged.staged_by, staged.price) == ("staged", "demo", price)
    with pytest.raises(Conflict, match="pick it up"):
        trader.release_staged(staged.staged_id)
    assert trader.pick_up_staged(staged.staged_id).trader == "alice"

    assert [s.staged_id for s in trader.list_staged()] == [staged.staged_id]
    released = trader.release_staged(staged.staged_id)
    assert isinstance(released, Release)
    assert released.staged.status == "released" and released.order.cl_ord_id == staged.staged_id
    assert (released.order.quantity, released.order.price, released.staged.order_id) == (Decimal(25), price, released.order.order_id)
    assert trader.list_staged() == [] and [s.status for s in trader.list_staged(include_done=True)] == ["released"]
    withdrawn = pm.cancel_staged(pm.stage_order("ACC-EQ-1", "MSFT", "sell", 5, ord_type="market").staged_id, reason="no")
    assert (withdrawn.status, withdrawn.reason) == ("canceled", "no")
    with pytest.raises(OmsInputError, match="no expire_at or cl_ord_id"):
        from openoms.client.calls import new_order, stage_order

        stage_order(new_order("ACC-EQ-1", "MSFT", "buy", 1, price="1", cl_ord_id="X"))


def test_the_async_client_stages_picks_up_and_releases(tmp_path: Path) -> None:
    oms = build(Config(data_dir=tmp_path / "data", market_data_interval_ms=50))

    async def session() -> None:
        await oms.start()
        try:
            transport = httpx.ASGITransport(app=create_app(oms, trusted_header=True))
            async with httpx.AsyncClient(transport=transport, base_url="http://oms") as http, \
                    AsyncOmsClient(http=http, user="demo") as pm, AsyncOmsClient(http=http, user="alice") as trader:
                while True:
                    try:
                        bid = (await pm.quote("AAPL")).bid
                        break
                    except NotFound:
                        await asyncio.sleep(0.02)
                price = (bid * Decimal("0.95")).quantize(Decimal("0.01"))
                staged = await pm.stage_order("ACC-EQ-1", "AAPL", "buy", 10, price=price)
                assert (await trader.pick_up_staged(staged.staged_id)).status == "picked_up"
                released = await trader.release_staged(staged.staged_id)
                assert released.order.cl_ord_id == staged.staged_id and released.order.price == price
                algo = await trader.start_algo("ACC-EQ-1", "AAPL", "buy", 100, "iceberg", limit_price=price, display_qty=10)
                assert algo.kind == "iceberg" and (await trader.cancel_algo(algo.algo_id)).status == "done"
        finally:
            await oms.stop()

    asyncio.run(session())
