"""Audit over REST against a real OMS (SQLite and PostgreSQL journals, simulated venue):
reconstruction equals what `oms audit order` reads from the journal; compliance queries; /metrics
scraped after orders; /ready follows the journal and the venues."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from openoms.api.rest import create_app
from openoms.bootstrap import build
from stores import Store


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    oms = build(store.config(market_data_interval_ms=50))
    with TestClient(create_app(oms, manage_lifecycle=True, trusted_header=True), raise_server_exceptions=False) as test_client:
        test_client.oms = oms  # type: ignore[attr-defined]
        test_client.store = store  # type: ignore[attr-defined]
        yield test_client


def wait_status(client: TestClient, order_id: str, statuses: set[str], timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        order: dict[str, Any] = client.get(f"/api/v1/orders/{order_id}").json()["order"]
        if order["status"] in statuses or time.monotonic() > deadline:
            return order
        time.sleep(0.02)


def submit(client: TestClient, user: str = "alice", **fields: Any) -> dict[str, Any]:
    body = {"account": "ACC-EQ-1", "symbol": "AAPL", "side": "buy", "quantity": "100", **fields}
    response = client.post("/api/v1/orders", json=body, headers={"X-OMS-User": user})
    return {"status": response.status_code, **response.json()}


def ask(client: TestClient) -> str:
    deadline = time.monotonic() + 5
    while (r := client.get("/api/v1/marketdata/AAPL")).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    return str(r.json()["ask"])


def metrics(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = client.get("/metrics").text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def oms_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "openoms", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "250"})


def test_audit_reconstruction_queries_and_metrics_over_a_trading_session(client: TestClient) -> None:
    filled = submit(client, price=ask(client))
    assert filled["status"] == 201
    filled_id = filled["order"]["order_id"]
    resting = submit(client, quantity="50", price="200.00")["order"]["order_id"]
    assert wait_status(client, resting, {"new"})["status"] == "new"
    assert client.post(f"/api/v1/orders/{resting}/replace", json={"quantity": "80", "price": "201.00", "cl_ord_id": "R-1"},
                       headers={"X-OMS-User": "alice"}).status_code == 202
    assert wait_status(client, resting, {"new"})["quantity"] == "80"
    assert client.post(f"/api/v1/orders/{resting}/replace", json={"price": "202.00", "cl_ord_id": "R-2"},
                       headers={"X-OMS-User": "alice"}).status_code == 202
    assert wait_status(client, resting, {"new"})["price"] == "202.00"
    refused = submit(client, quantity="2000000", price="200.00")  # above the desk's 1,000,000 share limit
    assert refused["status"] == 422 and refused["error"]["code"] == "RISK_MAX_QUANTITY"
    assert client.put("/api/v1/risk/limits/account:ACC-EQ-1", json={"limits": {"max_order_quantity": "5000"}, "reason": "tighten"},
                      headers={"X-OMS-User": "risk"}).status_code == 200
    assert client.post("/api/v1/risk/kill-switch", json={"scope": "account:ACC-EQ-1", "reason": "drill"},
                       headers={"X-OMS-User": "risk"}).status_code == 202
    assert wait_status(client, resting, {"canceled"})["status"] == "canceled"
    assert client.post("/api/v1/risk/kill-switch/release", json={"scope": "account:ACC-EQ-1", "reason": "drill over"},
                       headers={"X-OMS-User": "risk"}).status_code == 200
    assert wait_status(client, filled_id, {"filled"})["status"] == "filled"
    exec_id = client.get(f"/api/v1/executions?order_id={filled_id}").json()["executions"][0]["exec_id"]
    assert client.post(f"/api/v1/executions/{exec_id}/bust", headers={"X-OMS-User": "ops"}).status_code == 202

    # --- reconstruction ---------------------------------------------------------------------------
    history = client.get(f"/api/v1/audit/orders/{resting}").json()
    types = [e["type"] for e in history["events"]]
    assert types[:3] == ["OrderAccepted", "OrderRouted", "OrderAcknowledged"]
    assert types.count("OrderReplaced") == 2 and types[-2:] == ["CancelRequested", "OrderCanceled"]
    cancel = history["events"][-2]
    assert cancel["actor"]["user"] == "risk" and cancel["actor"]["channel"] == "rest" and cancel["actor"]["address"]
    assert [e["after"]["cl_ord_id"] for e in history["events"] if e["type"] == "OrderReplaced"] == ["R-1", "R-2"]
    assert history["events"][0]["market"]["source"] == "risk reference price at acceptance"
    assert all(e["market"] is not None for e in history["events"])
    assert history["order"]["status"] == "canceled"
    busted = client.get(f"/api/v1/audit/orders/{filled_id}").json()
    assert [e["type"] for e in busted["events"]][-1] == "TradeBusted"
    assert (busted["events"][-1]["before"]["status"], busted["events"][-1]["after"]["status"]) == ("filled", "new")
    assert client.get("/api/v1/audit/orders/O999").json()["error"]["code"] == "UNKNOWN_ORDER"

    # --- compliance queries -----------------------------------------------------------------------
    orders = client.get("/api/v1/audit/orders", params={"trader": "alice", "account": "ACC-EQ-1", "symbol": "AAPL"}).json()
    assert [o["order_id"] for o in orders["orders"]] == [filled_id, resting]
    assert [o["status"] for o in orders["orders"]] == ["new", "canceled"]
    later = client.get("/api/v1/audit/orders", params={"trader": "alice", "since": history["events"][2]["time"]}).json()
    assert later["orders"] == []
    naive = client.get("/api/v1/audit/orders", params={"since": "2026-01-01T00:00:00"})
    assert naive.status_code == 422 and naive.json()["error"]["code"] == "INVALID_FIELD"
    risk_actions = [(e["type"], e["order_id"]) for e in client.get("/api/v1/audit/actions", params={"user": "risk"}).json()["events"]]
    assert risk_actions == [("LimitsChanged", None), ("KillSwitchEngaged", None), ("CancelRequested", resting), ("KillSwitchReleased", None)]
    alice = [e["type"] for e in client.get("/api/v1/audit/actions", params={"user": "alice"}).json()["events"]]
    assert "CommandRejected" in alice and alice.count("ReplaceRequested") == 2
    controls = client.get("/api/v1/audit/controls").json()["events"]
    assert [e["type"] for e in controls][-3:] == ["LimitsChanged", "KillSwitchEngaged", "KillSwitchReleased"]
    assert controls[-3]["detail"]["previous"] is None and controls[-3]["detail"]["reason"] == "tighten"

    # --- the CLI reads the journal file (the server still running) and says the same ----------------
    journal = client.store.journal_args()  # type: ignore[attr-defined]
    for order_id in (resting, filled_id):
        result = oms_cli("audit", "order", order_id, *journal, "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == client.get(f"/api/v1/audit/orders/{order_id}").json()
    result = oms_cli("audit", "actions", "--user", "risk", *journal, "--json")
    assert json.loads(result.stdout) == client.get("/api/v1/audit/actions", params={"user": "risk"}).json()
    table = oms_cli("audit", "order", resting, *journal)
    assert table.returncode == 0 and "OrderCanceled" in table.stdout and "risk" in table.stdout

    # --- metrics ------------------------------------------------------------------------------------
    scraped = metrics(client)
    assert scraped[("oms_journal_events_total", (("type", "OrderAccepted"),))] == 2
    assert scraped[("oms_journal_events_total", (("type", "OrderReplaced"),))] == 2
    assert scraped[("oms_journal_events_total", (("type", "TradeBusted"),))] == 1
    assert scraped[("oms_rejects_total", (("code", "RISK_MAX_QUANTITY"), ("rule", "max_order_quantity"), ("source", "engine")))] == 1
    assert scraped[("oms_orders", (("status", "canceled"),))] == 1
    assert scraped[("oms_orders", (("status", "filled"),))] == 0  # the busted order is open again:
    assert scraped[("oms_orders", (("status", "new"),))] == 1
    assert scraped[("oms_orders_open", ())] == 1
    assert scraped[("oms_ack_latency_seconds_count", ())] >= 9
    assert scraped[("oms_journal_commit_seconds_count", ())] >= 10
    # Every durable event went through a commit the histogram saw, and was counted by type.
    assert scraped[("oms_journal_commit_events_sum", ())] == scraped[("oms_journal_committed_seq", ())]
    assert sum(v for (name, _), v in scraped.items() if name == "oms_journal_events_total") == scraped[("oms_journal_committed_seq", ())]
    assert scraped[("oms_venue_up", (("venue", "SIM"),))] == 1
    assert scraped[("oms_engine_up", ())] == 1


def test_ready_follows_the_venues_and_the_journal(client: TestClient) -> None:
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    oms = client.oms  # type: ignore[attr-defined]
    gateway = oms.venues["SIM"]
    gateway.connected = False  # what a FIX gateway reports when its session drops
    down = client.get("/ready")
    assert down.status_code == 503 and down.json()["checks"]["venues"]["ok"] is False
    assert client.get("/health").json()["venues"]["SIM"] == "down"
    gateway.connected = True
    oms.journal._conn.close()  # the disk is gone: the next commit fails
    assert submit(client, price="200.00")["status"] == 503
    not_ready = client.get("/ready").json()
    assert not_ready["ready"] is False and not_ready["checks"]["journal"]["ok"] is False
    assert "journal write failed" in not_ready["checks"]["journal"]["detail"]
    assert metrics(client)[("oms_engine_up", ())] == 0


def test_audit_cli_answers_bad_input_with_one_line(store: Store, tmp_path: Path) -> None:
    oms = build(store.config(market_data=False))
    oms.recover()
    oms.journal.close()
    journal = store.journal_args()
    unknown = oms_cli("audit", "order", "O999", *journal)
    assert unknown.returncode == 1 and "unknown order 'O999'" in unknown.stderr
    missing = oms_cli("audit", "controls", "--journal", str(tmp_path / "nothing.sqlite"))
    assert missing.returncode == 2 and "no journal at" in missing.stderr
    naive = oms_cli("audit", "orders", "--since", "2026-11-26T09:00:00", *journal)
    assert naive.returncode == 2 and "needs a timezone" in naive.stderr
    garbage = oms_cli("audit", "actions", "--user", "x", "--until", "tomorrow", *journal)
    assert garbage.returncode == 2 and "not an ISO 8601 time" in garbage.stderr
    for result in (unknown, missing, naive, garbage):
        assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("verify", [True, False])
def test_after_a_restart_the_replayed_index_answers_like_a_scan_of_the_journal(store: Store, verify: bool) -> None:
    """The index is rebuilt by replay (both replay paths: links checked inline, or not), and the
    metrics' counts with it: a restart answers exactly as before."""
    from builders import Desk
    from openoms.audit.queries import AuditQueries, scan
    from openoms.domain import commands as cmd

    desk = Desk()
    alice = cmd.Actor("alice", "rest", "10.0.0.1:5000")
    for i in range(30):
        oid = desk.submit_ok("100", "230.00", actor=alice if i % 2 else cmd.Actor("demo", "rest"))
        desk.ack(oid)
        desk.fill(oid, "40", f"230.{i:02d}")
        if i % 3 == 0:
            desk.cancel(oid, actor=alice)
            desk.venue_canceled(oid)
    desk.send(cmd.EngageKillSwitch(actor=alice, scope="trader:alice", reason="drill"))
    config = store.config(market_data=False, verify_on_start=verify)
    journal = store.journal()
    journal.append(desk.events)
    journal.close()

    oms = build(config)
    oms.recover()
    replayed = AuditQueries(oms.journal, oms.audit, seqs_of=lambda o: oms.engine.orders[o].seqs)
    scanned = AuditQueries(oms.journal, scan(oms.journal))
    for user in ("alice", "demo"):
        assert replayed.actions(user) == scanned.actions(user)
    assert replayed.controls() == scanned.controls()
    assert replayed.index.order_acceptances(trader="alice") == scanned.index.order_acceptances(trader="alice")
    for order_id in ("O1", "O2", "O30"):
        assert replayed.order(order_id) == scanned.order(order_id)  # type: ignore[arg-type]
    text = oms.metrics.render().decode()
    assert 'oms_orders{status="canceled"} 10.0' in text and 'oms_journal_events_total{type="OrderFilled"} 30.0' in text
    oms.journal.close()
