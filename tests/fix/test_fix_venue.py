"""The FIX venue gateway (OpenOMS as initiator) against QuickFIX playing two exchanges: one fills
every order at its limit, one never fills (orders rest), so cancel, replace and disconnects can
be exercised. Orders are entered over REST; MSFT routes to EXCH, NVDA to SLOW."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fixharness import PEER, FixServer, free_port, need_quickfix

from stores import Store

EXCHANGES: list[Exchange] = []


class Exchange:
    """peer.py --acceptor as a subprocess, its JSON events on a queue."""

    def __init__(self, port: int, sender: str, *extra: str) -> None:
        need_quickfix()
        self.port, self.sender, self.extra = port, sender, extra
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        EXCHANGES.append(self)
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(PEER), "--acceptor", "--port", str(self.port), "--sender", self.sender,
                                      "--target", "OPENOMS", "--quiet", *self.extra], stdout=subprocess.PIPE, text=True)
        stdout = self.proc.stdout
        assert stdout is not None
        threading.Thread(target=lambda: [self.events.put(json.loads(line)) for line in stdout], daemon=True).start()
        self.wait_for("listening")

    def wait_for(self, name: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if event["event"] == name:
                return event

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: QuickFIX logs out and exits 0
            assert self.proc.wait(timeout=20) == 0


@pytest.fixture(scope="module")
def exchanges(module_store: Store) -> Iterator[tuple[Exchange, Exchange, FixServer]]:
    fast = Exchange(free_port(), "EXCH")
    slow = Exchange(free_port(), "SLOW", "--fill-delay", "-1")
    dropping = Exchange(free_port(), "CXL", "--fill-delay", "-1")
    config = module_store.data_dir.parent / "oms.toml"
    config.write_text(f"""
[[fix.sessions]]
sender_comp_id = "DEMO-CLIENT"

[[fix.venues]]
venue_id = "EXCH"
port = {fast.port}
target_comp_id = "EXCH"
symbols = ["MSFT"]
reconnect_s = 0.2

[[fix.venues]]
venue_id = "SLOW"
port = {slow.port}
target_comp_id = "SLOW"
symbols = ["NVDA"]
reconnect_s = 0.2

[[fix.venues]]
venue_id = "CXL"
port = {dropping.port}
target_comp_id = "CXL"
symbols = ["SAP"]
cancel_on_disconnect = true
reconnect_s = 0.2
""")
    server = FixServer(module_store.data_dir, config, module_store.url).start()
    try:
        fast.wait_for("logon")
        slow.wait_for("logon")
        dropping.wait_for("logon")
        yield fast, slow, server
    finally:
        server.stop()
        fast.stop()
        slow.stop()
        dropping.stop()


def submit(client: httpx.Client, symbol: str, price: str, quantity: str = "100") -> dict[str, Any]:
    response = client.post("/api/v1/orders", json={"account": "ACC-EQ-1", "symbol": symbol, "side": "buy", "quantity": quantity,
                                                   "price": price, "cl_ord_id": uuid.uuid4().hex[:12]})
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()["order"]
    return order


def wait_status(client: httpx.Client, order_id: str, *statuses: str, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        order: dict[str, Any] = client.get(f"/api/v1/orders/{order_id}").json()["order"]
        if order["status"] in statuses or time.monotonic() > deadline:
            assert order["status"] in statuses, order
            return order
        time.sleep(0.05)


def test_an_order_round_trips_through_the_fix_venue(exchanges: tuple[Exchange, Exchange, FixServer]) -> None:
    _, _, server = exchanges
    with server.client() as client:
        order = submit(client, "MSFT", "420.00")
        filled = wait_status(client, order["order_id"], "filled")
        assert (filled["cum_qty"], filled["avg_px"], filled["routes"][0]["venue"]) == ("100", "420", "EXCH")
        [execution] = client.get("/api/v1/executions", params={"order_id": order["order_id"]}).json()["executions"]
        assert execution["price"] == "420.00" and execution["exec_id"].startswith("EXCH-")


def test_replace_and_cancel_at_the_fix_venue(exchanges: tuple[Exchange, Exchange, FixServer]) -> None:
    _, _, server = exchanges
    with server.client() as client:
        order = submit(client, "NVDA", "100.00")
        wait_status(client, order["order_id"], "new")
        assert client.post(f"/api/v1/orders/{order['order_id']}/replace", json={"quantity": "150", "price": "101.00"}).status_code == 202
        replaced = wait_status(client, order["order_id"], "new")
        deadline = time.monotonic() + 10
        while replaced["quantity"] != "150" and time.monotonic() < deadline:
            replaced = wait_status(client, order["order_id"], "new")
        assert (replaced["quantity"], replaced["price"]) == ("150", "101.00")
        assert client.post(f"/api/v1/orders/{order['order_id']}/cancel").status_code == 202
        assert wait_status(client, order["order_id"], "canceled")["cum_qty"] == "0"


def test_disconnect_refuses_new_orders_and_reconnect_settles_open_ones(exchanges: tuple[Exchange, Exchange, FixServer]) -> None:
    _, slow, server = exchanges
    with server.client() as client:
        resting = submit(client, "NVDA", "100.00")
        wait_status(client, resting["order_id"], "new")
        slow.stop()  # the exchange goes away (and forgets its orders)
        refused = submit(client, "NVDA", "100.00")
        rejected = wait_status(client, refused["order_id"], "rejected")
        assert "not connected" in rejected["text"]
        assert wait_status(client, resting["order_id"], "new")["status"] == "new"  # not canceled on disconnect by default
        slow.start()
        slow.wait_for("logon")
        # the status request after logon finds the exchange no longer knows the order: never left open
        settled = wait_status(client, resting["order_id"], "canceled")
        assert "SLOW" in settled["text"]
        again = submit(client, "NVDA", "100.00")
        wait_status(client, again["order_id"], "new")


def test_after_an_oms_restart_open_routes_are_asked_about_and_still_work(exchanges: tuple[Exchange, Exchange, FixServer]) -> None:
    _, slow, server = exchanges
    with server.client() as client:
        order = submit(client, "NVDA", "100.00")
        wait_status(client, order["order_id"], "new")
    assert server.stop() == 0
    server.start()
    slow.wait_for("logon")
    with server.client() as client:
        assert wait_status(client, order["order_id"], "new")["status"] == "new"  # the exchange still has it
        assert client.post(f"/api/v1/orders/{order['order_id']}/cancel").status_code == 202
        assert wait_status(client, order["order_id"], "canceled")["text"] == "requested"


def test_cancel_on_disconnect_books_open_orders_canceled(exchanges: tuple[Exchange, Exchange, FixServer]) -> None:
    _, _, server = exchanges
    with server.client() as client:
        order = submit(client, "SAP", "200.00")
        wait_status(client, order["order_id"], "new")
        cxl = next(e for e in reversed(EXCHANGES) if e.sender == "CXL")  # this backend's exchanges: started last
        cxl.stop()
        canceled = wait_status(client, order["order_id"], "canceled")
        assert canceled["text"] == "venue cancels on disconnect"
