"""The Python SDK against the real app in process: the sync client over Starlette's TestClient,
the async one over httpx's ASGI transport. Every call a trader, a risk officer or an auditor
makes, the server's refusals as typed exceptions, and the retry policy on a dead port."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import TypeVar

import httpx
import pytest
from fastapi.testclient import TestClient

from openoms.api.rest import create_app
from openoms.bootstrap import build
from openoms.client import (
    AsyncOmsClient,
    Conflict,
    InvalidRequest,
    NotFound,
    OmsClient,
    OmsConnectionError,
    OrderRejected,
    PermissionDenied,
    new_order,
)
from openoms.domain.lifecycle import OrdStatus
from stores import Store

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], timeout: float = 10.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.fixture
def http(store: Store) -> Iterator[TestClient]:
    oms = build(store.config(market_data_interval_ms=50))
    with TestClient(create_app(oms, manage_lifecycle=True, trusted_header=True), raise_server_exceptions=False) as client:
        yield client


def status_of(client: OmsClient, order_id: str, wanted: OrdStatus) -> OrdStatus | None:
    status = client.get_order(order_id).order.status
    return status if status is wanted else None


def test_a_trader_submits_replaces_cancels_and_follows_orders_with_exact_decimals(http: TestClient) -> None:
    sent: list[httpx.Request] = []
    http.event_hooks["request"].append(sent.append)
    client = OmsClient(http=http, user="alice", token="oms_test_key")
    ask = eventually(lambda: client.quote("AAPL").ask if http.get("/api/v1/marketdata/AAPL").status_code == 200 else None)
    assert isinstance(ask, Decimal)

    filled = client.submit_order("ACC-EQ-1", "AAPL", "buy", 100, price=ask + Decimal("1.00"), cl_ord_id="SDK-1")
    assert filled.order.status is OrdStatus.PENDING_NEW and filled.order.trader == "alice"
    assert filled.events[0]["type"] == "OrderAccepted"
    eventually(lambda: status_of(client, filled.order.order_id, OrdStatus.FILLED))

    resting = client.submit_order("ACC-EQ-1", "AAPL", "buy", "50", price="200.00", tif="gtc").order
    eventually(lambda: status_of(client, resting.order_id, OrdStatus.NEW))
    replaced = client.replace_order(resting.order_id, quantity=80, price=Decimal("201.00"))
    assert replaced.order.status is OrdStatus.PENDING_REPLACE
    eventually(lambda: client.get_order(resting.order_id).order.quantity == 80 or None)
    assert client.cancel_order(resting.order_id).order.status is OrdStatus.PENDING_CANCEL
    eventually(lambda: status_of(client, resting.order_id, OrdStatus.CANCELED))

    assert [o.order_id for o in client.list_orders(account="ACC-EQ-1")] == [resting.order_id, filled.order.order_id]
    assert client.list_orders(open_only=True) == []
    assert [o.order_id for o in client.list_orders(status="filled")] == [filled.order.order_id]
    fills = client.list_executions(order_id=filled.order.order_id)
    assert sum(f.quantity for f in fills) == Decimal(100) and all(isinstance(f.price, Decimal) for f in fills)
    position = eventually(lambda: next(iter(client.list_positions(account="ACC-EQ-1", symbol="AAPL")), None))
    assert position.quantity == Decimal(100) and position.avg_price == fills[0].price

    history = client.get_order(resting.order_id).events
    assert [e["type"] for e in history][-2:] == ["CancelRequested", "OrderCanceled"]
    audit = client.order_history(filled.order.order_id)
    assert audit.events[0].type == "OrderAccepted" and audit.events[0].actor.user == "alice"
    assert audit.order.executions[0].price == fills[0].price
    assert {i.symbol for i in client.instruments()} >= {"AAPL", "UST-10Y", "ESZ6"}
    assert next(i for i in client.instruments() if i.symbol == "UST-10Y").tick_size == Decimal("0.0078125")
    assert [a.account for a in client.accounts()][:1] == ["ACC-EQ-1"]

    # Both credentials go on every request: the token for servers with logins, the user for those without.
    ours = [r for r in sent if r.headers["user-agent"].startswith("openoms-client/")]
    assert len(ours) >= 15
    assert {(r.headers["authorization"], r.headers["x-oms-user"]) for r in ours} == {("Bearer oms_test_key", "alice")}


def test_risk_limits_usage_what_if_basket_and_the_kill_switch(http: TestClient) -> None:
    trader, risk = OmsClient(http=http, user="demo"), OmsClient(http=http, user="risk")
    eventually(lambda: http.get("/api/v1/marketdata/AAPL").status_code == 200 or None)
    limits = risk.risk_limits()
    assert limits.limits["desk:EQUITIES"]["max_order_quantity"] == "1000000" and limits.kill_switches == {}

    verdict = trader.what_if("ACC-EQ-1", "AAPL", "buy", 2_000_000, price="230.00")
    assert not verdict.would_be_accepted
    failed = next(c for c in verdict.checks if not c.passed)
    assert failed.code == "RISK_MAX_QUANTITY" and failed.detail["limit"] == "1000000"
    basket = trader.what_if_basket([new_order("ACC-EQ-1", "AAPL", "buy", 10, price="230.00"),
                                    new_order("ACC-EQ-2", "AAPL", "buy", 10, price="230.00")])
    assert basket.would_be_accepted and basket.credit["ACC-EQ-1"].basket_buys == Decimal("2300.00")
    resting = trader.submit_order("ACC-EQ-1", "AAPL", "buy", 5, price="200.00").order
    usage = risk.risk_usage(account="ACC-EQ-1")
    assert [a.account for a in usage.accounts] == ["ACC-EQ-1"] and usage.accounts[0].order_to_trade.messages == 1
    assert [(u.symbol, u.working_buys) for u in usage.usage] == [("AAPL", Decimal(5))]
    engaged = risk.engage_kill_switch("account:ACC-EQ-1", "desk review")
    assert engaged.engaged and engaged.canceling == [resting.order_id]
    with pytest.raises(PermissionDenied) as stopped:
        trader.submit_order("ACC-EQ-1", "AAPL", "buy", 5, price="200.00")
    assert stopped.value.code == "KILL_SWITCH"
    with pytest.raises(PermissionDenied, match="risk_officer"):
        OmsClient(http=http, user="alice").release_kill_switch("account:ACC-EQ-1", "not mine")
    assert risk.release_kill_switch("account:ACC-EQ-1", "reviewed").engaged is False
    assert risk.risk_limits().kill_switches == {}


def test_refusals_are_typed_exceptions_carrying_the_servers_error(http: TestClient) -> None:
    client = OmsClient(http=http)
    with pytest.raises(OrderRejected) as too_big:
        client.submit_order("ACC-EQ-1", "AAPL", "buy", 2_000_000, price="230.00")
    assert too_big.value.status == 422 and too_big.value.code == "RISK_MAX_QUANTITY"
    assert too_big.value.detail == {"rule": "max_order_quantity", "scope": "desk:EQUITIES", "limit": "1000000", "value": "2000000"}
    with pytest.raises(OrderRejected, match="UNKNOWN_INSTRUMENT"):
        client.submit_order("ACC-EQ-1", "NOPE", "buy", 1, price="1")
    with pytest.raises(NotFound, match="UNKNOWN_ORDER"):
        client.cancel_order("O404")
    with pytest.raises(InvalidRequest, match="INVALID_FIELD"):
        client.list_orders(limit=20_000)  # the server caps a page at 10,000
    order = client.submit_order("ACC-EQ-1", "AAPL", "buy", 1, price="200.00", cl_ord_id="DUP-1").order
    with pytest.raises(Conflict, match="DUPLICATE_CL_ORD_ID"):
        client.submit_order("ACC-EQ-1", "AAPL", "buy", 1, price="200.00", cl_ord_id="DUP-1")
    assert [o.order_id for o in client.list_orders()] == [order.order_id]  # nothing else was journaled


def test_the_async_client_trades_and_is_refused_like_the_sync_one(store: Store) -> None:
    oms = build(store.config(market_data_interval_ms=50))

    async def session() -> None:
        await oms.start()
        try:
            transport = httpx.ASGITransport(app=create_app(oms, trusted_header=True))
            async with httpx.AsyncClient(transport=transport, base_url="http://oms") as http, \
                    AsyncOmsClient(http=http, user="alice") as client:
                while True:  # risk needs a market price: wait for the simulator's first quote
                    try:
                        ask = (await client.quote("AAPL")).ask
                        break
                    except NotFound:
                        await asyncio.sleep(0.02)
                ack = await client.submit_order("ACC-EQ-1", "AAPL", "sell_short_exempt", Decimal("10"), price=ask + 20)
                assert ack.order.trader == "alice" and ack.order.quantity == Decimal(10)
                orders = await client.list_orders()
                assert [o.order_id for o in orders] == [ack.order.order_id]
                with pytest.raises(PermissionDenied, match=r"UNKNOWN_TRADER|NOT_PERMITTED"):
                    await client.submit_order("ACC-FI-1", "UST-10Y", "buy", 1000, price="99")
                with pytest.raises(NotFound):
                    await client.get_order("O404")
        finally:
            await oms.stop()

    asyncio.run(session())


def test_reads_are_retried_on_a_dropped_connection_and_orders_are_sent_once() -> None:
    """A port that accepts and hangs up at once: count how often each call knocks."""
    listener = socket.create_server(("127.0.0.1", 0))
    knocks = 0

    def accept() -> None:
        nonlocal knocks
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            knocks += 1
            connection.close()

    threading.Thread(target=accept, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        with OmsClient(url, retries=2, backoff=0, timeout=2) as client:
            with pytest.raises(OmsConnectionError, match=f"no OpenOMS answering at {url}"):
                client.list_positions()
            assert knocks == 3
            with pytest.raises(OmsConnectionError):
                client.submit_order("ACC-EQ-1", "AAPL", "buy", 1, price="1")
            assert knocks == 4
    finally:
        listener.close()


def test_an_unreachable_server_is_a_connection_error_naming_it() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with OmsClient(f"http://127.0.0.1:{port}", retries=0) as client, pytest.raises(OmsConnectionError, match=str(port)):
        client.instruments()
