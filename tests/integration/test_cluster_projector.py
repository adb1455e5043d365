"""The projector on its own (no NATS): a shard's journaled events, given as the event stream
would give them, become read models equal to the shard's own views; a message given again
changes nothing; a gap stops it; a restarted projector rebuilds from its store and goes on."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from openoms.bootstrap import build
from openoms.cluster.partition import Subjects
from openoms.cluster.projector import GapError, Projector
from openoms.cluster.read_models import ReadModels
from openoms.config import Config
from openoms.demo import demo_reference
from openoms.domain import commands as cmd
from openoms.domain import events as ev
from openoms.domain.ids import AccountId, ClientOrderId, OrderId, Symbol
from openoms.domain.values import Side
from openoms.journal.memory import MemoryJournal
from openoms.service.views import order_view

TRADER = cmd.Actor("demo", "test")
NO_COLLAR = Path(__file__).resolve().parents[1] / "limits_without_collar.toml"  # to buy far through the market


def shard_events(tmp_path: Path) -> tuple[list[ev.Event], dict[str, dict[str, object]]]:
    """A real engine's journal: two resting orders, one filled against the market, one canceled."""
    oms = build(Config(data_dir=tmp_path / "shard", market_data=True, fix_enabled=False, limits_file=NO_COLLAR), journal=MemoryJournal())
    oms.recover()

    async def trade() -> None:
        await oms.start()
        try:
            ids = []
            for i, price in enumerate(("1.00", "1.00", "100000")):
                outcome = await oms.runtime.execute(cmd.SubmitOrder(
                    actor=TRADER, account=AccountId("ACC-EQ-1"), cl_ord_id=ClientOrderId(f"P{i}"), symbol=Symbol("AAPL"),
                    side=Side.BUY, quantity=Decimal(10), price=Decimal(price)))
                assert outcome.rejected is None, outcome.rejected
                assert outcome.order is not None
                ids.append(outcome.order["order_id"])
            await oms.runtime.execute(cmd.CancelOrder(actor=TRADER, order_id=OrderId(ids[1])))
            for _ in range(200):  # the venue's answers (cancel confirmed, fill) are journaled
                if oms.engine.orders[OrderId(ids[1])].status.value == "canceled" and oms.engine.executions:
                    break
                await asyncio.sleep(0.01)
            await oms.runtime.drain()
        finally:
            await oms.stop()

    asyncio.run(trade())
    views = {f"S0-{order_id}": {**order_view(order), "order_id": f"S0-{order_id}"} for order_id, order in oms.engine.orders.items()}
    return list(oms.journal.events()), views


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_projected_orders_equal_the_shards_and_redelivery_and_restart_change_nothing(
        tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    events, views = shard_events(tmp_path)
    assert any(isinstance(e, ev.OrderFilled) for e in events) and any(isinstance(e, ev.OrderCanceled) for e in events)
    location = str(request.getfixturevalue("pg_url")) if backend == "postgresql" else str(tmp_path / "read_models.sqlite")
    store = ReadModels(location)
    projector = Projector(store, demo_reference(), "nats://unused", Subjects("t"))
    half = len(events) // 2
    assert projector.apply(1, 0, events[:half]) == half
    assert projector.apply(1, 0, events[:half]) == 0  # the same message again
    with pytest.raises(GapError):
        projector.apply(2, 0, events[half + 1:])
    assert projector.apply(2, 0, events[half - 3:half + 2]) == 2  # an overlap: only what is new
    store.close()

    # Restarted: the replica comes back from the stored events; the rest follows.
    store = ReadModels(location)
    again = Projector(store, demo_reference(), "nats://unused", Subjects("t"))
    assert (again.position, again.progress) == (2, {0: half + 2})
    assert again.rebuild() == half + 2
    assert again.apply(3, 0, events[half + 2:]) == len(events) - half - 2
    assert {o["order_id"]: o for o in store.orders(limit=100)} == views
    assert [row["order_id"] for row in store.executions()] == [k for k, v in views.items() if v["status"] == "filled"]
    [position] = store.positions()
    assert (position["account"], position["quantity"]) == ("ACC-EQ-1", "10")
    assert store.orders(open_only=True, limit=100) == [views["S0-O1"]]
    assert store.orders(visible=frozenset({"ACC-EQ-2"})) == []
    _, shard, seqs = store.order("S0-O2") or ({}, -1, [])
    assert shard == 0 and len(store.order_events(0, seqs)) == len(seqs) >= 3
    store.close()
    reader = ReadModels(location, readonly=True)  # as a gateway opens it
    assert reader.order_account("S0-O3") == "ACC-EQ-1" and reader.progress() == {0: len(events)}
    reader.close()
