"""End to end on PostgreSQL: ``oms serve`` with OMS_DATABASE_URL keeps acknowledged orders
across kill -9; when the journal's database connection is lost mid-commit under load, the server
reconnects on its own and goes on, having lost nothing it acknowledged and written nothing twice;
with reconnecting switched off (OMS_DATABASE_RECONNECT_S=0) it fails closed (503
ENGINE_UNAVAILABLE, /health says why) and a restart recovers."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pytest

# PostgreSQL only (the SQLite journal has its own crash and fault tests): `store` is the PostgreSQL one.
pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("journal_backend", ["postgresql"])]


def resting_buy(client: httpx.Client, cl_ord_id: str, price: Decimal) -> httpx.Response:
    body = {"account": "ACC-EQ-1", "symbol": "AAPL", "side": "buy", "quantity": "10", "price": str(price), "cl_ord_id": cl_ord_id}
    return client.post("/api/v1/orders", json=body)


def passive_price(client: httpx.Client) -> Decimal:
    bid = Decimal(client.get("/api/v1/marketdata/AAPL").json()["bid"])
    return (bid * Decimal("0.95")).quantize(Decimal("0.01"))


def orders_by_cl_ord_id(client: httpx.Client) -> dict[str, dict[str, Any]]:
    orders = client.get("/api/v1/orders", params={"limit": 10000}).json()["orders"]
    return {o["cl_ord_id"]: o for o in orders}


def test_order_submitted_over_rest_survives_kill_9(server_factory: Any, pg_url: str) -> None:
    server = server_factory().start()
    with server.client() as client:
        health = client.get("/health").json()
        assert health["journal"]["path"].startswith("postgresql://")
        r = resting_buy(client, "PG-1", passive_price(client))
        assert r.status_code == 201, r.text
        order_id = r.json()["order"]["order_id"]
    server.kill()
    # The journal and the users are in PostgreSQL, not the data dir (which keeps only the FIX session store).
    assert {p.name for p in server.data_dir.glob("*.sqlite")} <= {"fix-sessions.sqlite"}

    restarted = server_factory(data_dir=server.data_dir).start()
    with restarted.client() as client:
        order = client.get(f"/api/v1/orders/{order_id}").json()["order"]
        assert (order["cl_ord_id"], order["quantity"]) == ("PG-1", "10")
        assert order["status"] in {"pending_new", "new"}
    assert restarted.terminate() == 0


def terminate_writer(pg_url: str) -> list[tuple[Any, ...]]:
    """Cut the journal writer's database session (a failover, a network cut)."""
    with psycopg.connect(pg_url, autocommit=True) as admin:
        return admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE application_name = 'openoms-journal-writer' AND datname = current_database() "
                             "AND pid <> pg_backend_pid()").fetchall()


def test_lost_database_connection_under_load_reconnects_and_goes_on(server_factory: Any, pg_url: str) -> None:
    server = server_factory().start()
    acknowledged: set[str] = set()
    refused: dict[str, str] = {}
    lock = threading.Lock()
    with server.client() as client:
        price = passive_price(client)

    def trader(name: str) -> None:
        with server.client() as own:
            for i in range(60):
                r = resting_buy(own, f"{name}-{i}", price)
                with lock:
                    if r.status_code == 201:
                        acknowledged.add(f"{name}-{i}")
                    else:
                        refused[f"{name}-{i}"] = r.json()["error"]["code"]

    traders = [threading.Thread(target=trader, args=(f"T{n}",)) for n in range(4)]
    for thread in traders:
        thread.start()
    while True:
        with lock:
            if len(acknowledged) >= 40 or not any(t.is_alive() for t in traders):
                break
        threading.Event().wait(0.01)
    assert terminate_writer(pg_url) == [(True,)]
    for thread in traders:
        thread.join(60)

    assert set(refused.values()) <= {"ENGINE_UNAVAILABLE"}  # refused only while it reconnected
    with server.client() as client:
        ready = client.get("/ready").json()
        assert ready["ready"] is True and ready["checks"]["journal"]["reconnects"] == 1, ready
        found = orders_by_cl_ord_id(client)
        # Exactly what was acknowledged: nothing lost, nothing written twice, nothing refused taken.
        assert set(found) == acknowledged, (sorted(acknowledged ^ set(found))[:10], refused)
        assert resting_buy(client, "AFTER", price).status_code == 201
    server.kill()
    restarted = server_factory(data_dir=server.data_dir).start()
    with restarted.client() as client:
        assert set(orders_by_cl_ord_id(client)) == acknowledged | {"AFTER"}
    assert restarted.terminate() == 0


def test_lost_database_connection_mid_commit_fails_closed_and_a_restart_recovers(
    server_factory: Any, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMS_DATABASE_RECONNECT_S", "0")  # no reconnecting: the first lost commit stops the engine
    server = server_factory().start()
    acknowledged: set[str] = set()
    refused: list[dict[str, Any]] = []
    lock = threading.Lock()
    with server.client() as client:
        price = passive_price(client)

    def trader(name: str) -> None:
        with server.client() as own:
            for i in range(400):  # bounded: stops by itself if the kill never lands
                r = resting_buy(own, f"{name}-{i}", price)
                with lock:
                    if r.status_code == 201:
                        acknowledged.add(f"{name}-{i}")
                    else:
                        refused.append(r.json()["error"])
                        return

    traders = [threading.Thread(target=trader, args=(f"T{n}",)) for n in range(4)]
    for thread in traders:
        thread.start()
    while True:  # orders are flowing: then cut the writer's session
        with lock:
            if len(acknowledged) >= 40 or not any(t.is_alive() for t in traders):
                break
        threading.Event().wait(0.01)
    assert terminate_writer(pg_url) == [(True,)]
    for thread in traders:
        thread.join(60)

    assert refused, "no order was refused after the journal connection was lost"
    assert {error["code"] for error in refused} == {"ENGINE_UNAVAILABLE"}
    with server.client() as client:
        health = client.get("/health")
        assert health.status_code == 503
        failure = health.json()["engine"]["failure"]
        # the cause as the driver saw it: "terminating connection due to administrator command" or
        # "server closed the connection unexpectedly", depending on when the cut lands
        assert failure.startswith("journal write failed: seq ") and "not written to postgresql://" in failure
        assert resting_buy(client, "AFTER", price).status_code == 503
    server.kill()

    restarted = server_factory(data_dir=server.data_dir).start()
    with restarted.client() as client:
        found = orders_by_cl_ord_id(client)
        assert acknowledged <= set(found), f"acknowledged but lost: {sorted(acknowledged - set(found))[:10]}"
        assert "AFTER" not in found
        # Nothing half-applied: every journaled order was accepted and routed as a whole.
        for order in found.values():
            history = client.get(f"/api/v1/orders/{order['order_id']}").json()
            assert {"OrderAccepted", "OrderRouted"} <= {event["type"] for event in history["events"]}, history
        r = resting_buy(client, "AFTER-RESTART", price)
        assert r.status_code == 201, r.text
    assert restarted.terminate() == 0
