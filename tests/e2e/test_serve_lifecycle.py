"""End to end: a trader places, replaces and cancels orders on ``oms serve``; the process is
SIGKILLed after acknowledgements and every acknowledged order is found unchanged after restart."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

STABLE = {"filled", "canceled", "rejected", "expired", "new"}


def market(client: httpx.Client, symbol: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/marketdata/{symbol}")
    assert response.status_code == 200, response.text
    return response.json()


def submit(client: httpx.Client, **fields: Any) -> httpx.Response:
    body = {"account": "ACC-EQ-1", "symbol": "AAPL", "side": "buy", "ord_type": "limit", "tif": "day", **fields}
    return client.post("/api/v1/orders", json=body)


def wait_for(client: httpx.Client, order_id: str, statuses: set[str], timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        order = client.get(f"/api/v1/orders/{order_id}").json()["order"]
        if order["status"] in statuses or time.monotonic() > deadline:
            return order
        time.sleep(0.05)


def comparable(order: dict[str, Any]) -> dict[str, Any]:
    keys = ("order_id", "cl_ord_id", "status", "quantity", "price", "cum_qty", "leaves_qty", "avg_px", "account", "symbol", "side")
    return {k: order[k] for k in keys}


def all_orders(client: httpx.Client) -> dict[str, dict[str, Any]]:
    return {o["order_id"]: o for o in client.get("/api/v1/orders", params={"limit": 10000}).json()["orders"]}


def test_trader_places_replaces_cancels_and_sees_fills_then_sigkill_loses_nothing(server_factory: Any) -> None:
    server = server_factory().start()
    with server.client() as client:
        quote = market(client, "AAPL")
        far_below = (Decimal(quote["bid"]) * Decimal("0.5")).quantize(Decimal("0.01"))
        through = (Decimal(quote["ask"]) + Decimal("1.00")).quantize(Decimal("0.01"))

        # A marketable buy fills against the simulated market.
        r = submit(client, cl_ord_id="E2E-FILL", quantity="100", price=str(through))
        assert r.status_code == 201, r.text
        assert r.json()["order"]["status"] == "pending_new"
        filled = wait_for(client, r.json()["order"]["order_id"], {"filled"})
        assert filled["status"] == "filled" and filled["cum_qty"] == "100"
        assert Decimal(filled["avg_px"]) <= through

        # A resting order is replaced (price and quantity), then another is canceled.
        resting = submit(client, cl_ord_id="E2E-REST", quantity="50", price=str(far_below)).json()["order"]
        assert wait_for(client, resting["order_id"], {"new"})["status"] == "new"
        r = client.post(f"/api/v1/orders/{resting['order_id']}/replace",
                        json={"quantity": 80, "price": str(far_below - Decimal("0.01")), "cl_ord_id": "E2E-REST-2"})
        assert r.status_code == 202, r.text
        replaced = wait_for(client, resting["order_id"], {"new"})
        assert replaced["quantity"] == "80" and replaced["cl_ord_id"] == "E2E-REST-2"
        assert replaced["orig_cl_ord_id"] == "E2E-REST"

        to_cancel = submit(client, cl_ord_id="E2E-CXL", quantity="10", price=str(far_below)).json()["order"]
        r = client.post(f"/api/v1/orders/{to_cancel['order_id']}/cancel")
        assert r.status_code == 202, r.text
        assert wait_for(client, to_cancel["order_id"], {"canceled"})["status"] == "canceled"

        # A burst of acknowledged orders, some resting and some filling.
        acked: dict[str, dict[str, Any]] = {}
        for i in range(40):
            price = through if i % 2 else far_below
            r = submit(client, cl_ord_id=f"E2E-B{i}", quantity=str(10 + i), price=str(price))
            assert r.status_code == 201, r.text
            acked[r.json()["order"]["order_id"]] = r.json()["order"]
        for order_id in acked:
            wait_for(client, order_id, {"filled", "new"})
        before = all_orders(client)
        executions_before = client.get("/api/v1/executions").json()["count"]
        positions_before = client.get("/api/v1/positions").json()["positions"]
        history_before = client.get(f"/api/v1/orders/{resting['order_id']}").json()["events"]

    server.kill()
    restarted = server_factory(data_dir=server.data_dir).start()
    with restarted.client() as client:
        after = all_orders(client)
        for order_id in [*acked, filled["order_id"], resting["order_id"], to_cancel["order_id"]]:
            assert order_id in after, f"acknowledged order {order_id} lost"
        for order_id, order in before.items():
            assert comparable(after[order_id]) == comparable(order)
        assert client.get("/api/v1/executions").json()["count"] == executions_before
        positions_after = client.get("/api/v1/positions").json()["positions"]
        strip = [{k: p[k] for k in ("account", "symbol", "quantity", "avg_price", "realized_pnl")} for p in positions_before]
        assert [{k: p[k] for k in ("account", "symbol", "quantity", "avg_price", "realized_pnl")} for p in positions_after] == strip
        assert client.get(f"/api/v1/orders/{resting['order_id']}").json()["events"] == history_before
        # The resting orders are working again at the venue: they can still be canceled.
        r = client.post(f"/api/v1/orders/{resting['order_id']}/cancel")
        assert r.status_code == 202
        assert wait_for(client, resting["order_id"], {"canceled"})["status"] == "canceled"
    assert restarted.terminate() == 0

    verify = subprocess.run([sys.executable, "-m", "openoms", "audit", "verify", *server.cli_args()],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "hash chain intact" in verify.stdout


def test_sigkill_under_load_keeps_every_acknowledged_order(server_factory: Any) -> None:
    server = server_factory().start()
    acked: dict[str, dict[str, Any]] = {}
    stop = threading.Event()
    errors: list[str] = []

    def load(worker: int) -> None:
        with httpx.Client(base_url=server.url, timeout=5) as client:
            quote = market(client, "MSFT")
            price = (Decimal(quote["ask"]) + 1).quantize(Decimal("0.01"))
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    r = submit(client, symbol="MSFT", cl_ord_id=f"W{worker}-{i}", quantity="5", price=str(price))
                except httpx.HTTPError:
                    return  # the server died under us: this request was never acknowledged
                if r.status_code == 201:
                    acked[r.json()["order"]["order_id"]] = r.json()["order"]
                else:
                    errors.append(r.text)

    threads = [threading.Thread(target=load, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    server.kill()
    stop.set()
    for t in threads:
        t.join(10)
    assert not errors
    assert len(acked) > 50, "the load generator should have had orders acknowledged before the kill"

    restarted = server_factory(data_dir=server.data_dir).start()
    with restarted.client() as client:
        after = all_orders(client)
        missing = [order_id for order_id in acked if order_id not in after]
        assert not missing, f"{len(missing)} acknowledged orders lost, e.g. {missing[:5]}"
        for order_id, order in acked.items():
            assert after[order_id]["cl_ord_id"] == order["cl_ord_id"]
            assert after[order_id]["quantity"] == order["quantity"]
        assert client.get("/health").json()["engine"]["failure"] is None
    assert restarted.terminate() == 0


def test_sigterm_shuts_down_cleanly_and_restart_replays_same_state(server_factory: Any) -> None:
    server = server_factory().start()
    with server.client() as client:
        quote = market(client, "NVDA")
        price = (Decimal(quote["ask"]) + 1).quantize(Decimal("0.01"))
        ids = [submit(client, symbol="NVDA", cl_ord_id=f"T{i}", quantity="7", price=str(price)).json()["order"]["order_id"]
               for i in range(10)]
        for order_id in ids:
            wait_for(client, order_id, {"filled"})
        before = all_orders(client)
    assert server.terminate() == 0
    log = server.log.read_text()
    assert "Traceback" not in log
    restarted = server_factory(data_dir=server.data_dir).start()
    with restarted.client() as client:
        after = all_orders(client)
        assert {k: comparable(v) for k, v in after.items()} == {k: comparable(v) for k, v in before.items()}
        health = client.get("/health").json()
        assert health["replay"]["events"] > 0
    assert restarted.terminate() == 0
