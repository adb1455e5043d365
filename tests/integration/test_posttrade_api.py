"""Post-trade over REST with the demo market running: a block bought, allocated to three accounts,
instructed, statuses imported from a file, exports, bad input refused; all of it survives a restart."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from openoms.api.rest import create_app
from openoms.bootstrap import build
from stores import Store

P = "/api/v1/posttrade"
THREE = [{"account": "ACC-EQ-1", "weight": "0.5"}, {"account": "ACC-EQ-2", "weight": "0.3"}, {"account": "ACC-FI-1", "weight": "0.2"}]


def client_for(store: Store) -> TestClient:
    oms = build(store.config(market_data_interval_ms=50))
    return TestClient(create_app(oms, manage_lifecycle=True, trusted_header=True), raise_server_exceptions=False)


def filled_block(client: TestClient) -> str:
    ask = Decimal(client.app.state.oms.quotes.get("AAPL").ask)  # type: ignore[attr-defined]
    r = client.post("/api/v1/orders", json={"account": "ACC-EQ-1", "symbol": "AAPL", "side": "buy", "quantity": "1000",
                                            "price": str((ask * Decimal("1.02")).quantize(Decimal("0.01")))})
    assert r.status_code == 201, r.json()
    order_id: str = r.json()["order"]["order_id"]
    for _ in range(200):  # the simulated venue answers on the event loop: wait for the fills to be journaled
        if client.get(f"/api/v1/orders/{order_id}").json()["order"]["status"] == "filled":
            return order_id
        time.sleep(0.02)
    raise AssertionError("the block did not fill")


def error(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


def test_a_block_through_allocation_settlement_and_exports_over_rest(store: Store, tmp_path: Path) -> None:
    with client_for(store) as client:
        order_id = filled_block(client)
        trades = client.get(f"{P}/trades").json()["trades"]
        assert sum(Decimal(t["quantity"]) for t in trades) == 1000 and {t["venue"] for t in trades} == {"SIM"}
        assert client.get(f"{P}/trades", params={"format": "csv"}).text.startswith("exec_id,order_id,account")

        # Bad input: the reason, and nothing changed.
        assert error(client.post(f"{P}/allocations", json={"orders": [order_id], "method": "weight",
                                                           "targets": [{"account": "NOPE", "weight": "1"}]}))["code"] == "UNKNOWN_ACCOUNT"
        r = client.post(f"{P}/allocations", json={"orders": [order_id], "method": "weight", "targets": THREE[:2]})
        assert r.status_code == 422 and "add up to 1" in error(r)["message"]
        r = client.post(f"{P}/allocations", json={"orders": [order_id], "method": "quantity",
                                                  "targets": [{"account": "ACC-EQ-1", "quantity": "1500"}]})
        assert "over-allocation" in error(r)["message"]
        assert client.get(f"{P}/allocations").json()["allocations"] == []

        r = client.post(f"{P}/allocations", json={"orders": [order_id], "method": "weight", "targets": THREE})
        assert r.status_code == 201, r.json()
        allocation = r.json()
        assert [line["quantity"] for line in allocation["lines"]] == ["500", "300", "200"]
        assert sum(Decimal(line["gross"]) for line in allocation["lines"]) == Decimal(allocation["gross"])
        fix = client.get(f"{P}/allocations/AL1/fix").content
        assert b"35=J\x01" in fix and b"79=ACC-FI-1\x0180=200\x01" in fix

        made = client.post(f"{P}/settlement/instruct", json={}).json()["instructions"]
        assert [i["account"] for i in made] == ["ACC-EQ-1", "ACC-EQ-2", "ACC-FI-1"]
        for i in made:
            assert Decimal(i["net_money"]) == Decimal(i["gross"]) + Decimal(i["commission"]) + Decimal(i["fees"])
        assert client.get(f"{P}/settlement/instructions/SI1/sese023.xml").text.startswith("<?xml")
        r = client.put(f"{P}/allocations/AL1", json={"method": "weight", "targets": [{"account": "ACC-EQ-1", "weight": "1"}]})
        assert r.status_code == 200  # still pending: amending is allowed and cancels the pending instructions
        made = client.post(f"{P}/settlement/instruct", json={"allocation_ids": ["AL1"]}).json()["instructions"]
        assert [i["instruction_id"] for i in made] == ["SI4"]

        bad_file = "instruction_id,status,reason\nSI4,instructed,\nSI4,settled,\n"
        r = client.post(f"{P}/settlement/status-file", content=bad_file, headers={"content-type": "text/csv"})
        assert r.status_code == 422 and "line 3" in error(r)["message"]
        assert client.get(f"{P}/settlement/instructions", params={"status": "pending"}).json()["instructions"][0]["instruction_id"] == "SI4"
        good = "instruction_id,status,reason\nSI4,instructed,\nSI4,matched,\nSI4,failed,short of securities\n"
        assert client.post(f"{P}/settlement/status-file", content=good, headers={"content-type": "text/csv"}).json() == {"applied": 3}
        fails = client.get(f"{P}/settlement/fails").json()["fails"]
        assert [(f["instruction_id"], f["reason"]) for f in fails] == [("SI4", "short of securities")]
        r = client.post(f"{P}/settlement/instructions/SI4/status", json={"status": "settled"})
        assert r.json()["status"] == "settled"
        assert client.delete(f"{P}/allocations/AL1").status_code == 422  # its instruction has gone out

        reconcile = client.post(f"{P}/positions/reconcile", content="account,symbol,quantity\nACC-EQ-1,AAPL,900\n",
                                headers={"content-type": "text/csv"}).json()
        assert reconcile["breaks"] == [{"account": "ACC-EQ-1", "symbol": "AAPL", "ours": "1000", "theirs": "900",
                                        "difference": "100", "kind": "quantity"}]
        r = client.post(f"{P}/positions/load", params={"as_of": "2026-11-26"}, content="account,symbol,quantity,avg_price\n"
                        "ACC-EQ-2,MSFT,250,410.00\n", headers={"content-type": "text/csv"})
        assert r.json()["loaded"] == 1
        r = client.post(f"{P}/positions/load", json={"as_of": "2026-11-26", "positions": [
            {"account": "ACC-ZZ", "symbol": "MSFT", "quantity": "1"}]})
        assert error(r)["code"] == "UNKNOWN_ACCOUNT"
        statement = client.get(f"{P}/statement", params={"as_of": "2026-11-26"}).json()
        held = {p["symbol"]: p["quantity"] for p in statement["accounts"]["ACC-EQ-2"]["positions"]}
        assert held == {"AAPL": "0", "MSFT": "250"}  # AAPL: allocated to it, then amended away
        assert client.get(f"{P}/allocations/AL9").status_code == 404
        before = client.get(f"{P}/positions").json()

    with client_for(store) as again:  # replay rebuilds the post-trade book from the journal
        assert again.get(f"{P}/positions").json()["positions"] == [
            {**p, "mark": q["mark"], "market_value": q["market_value"], "unrealized_pnl": q["unrealized_pnl"],
             "unrealized_pnl_account_ccy": q["unrealized_pnl_account_ccy"]}
            for p, q in zip(before["positions"], again.get(f"{P}/positions").json()["positions"], strict=True)]
        assert again.get(f"{P}/allocations/AL1").json()["version"] == 2
        assert again.get(f"{P}/settlement/instructions/SI4/sese023.xml").status_code == 200
        assert again.get(f"{P}/settlement/instructions").json()["instructions"][3]["status"] == "settled"

    # End of day from the journal file, with no server: statements, blotter, settlement, XML, FIX.
    today = time.strftime("%Y-%m-%d", time.gmtime())
    out = tmp_path / "eod"
    done = subprocess.run([sys.executable, "-m", "openoms", "posttrade", "eod", "--date", today, "--out-dir", str(out),
                           *store.journal_args()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    statement = json.loads((out / f"statement-{today}.json").read_text())
    assert set(statement["accounts"]) == {"ACC-EQ-1", "ACC-EQ-2", "ACC-FI-1"}
    assert (out / f"blotter-{today}.csv").read_text().count("\n") == len(trades) + 1
    assert "SI4" in (out / f"settlement-{today}.csv").read_text()
    assert (out / f"sese023-{today}" / "SI4.xml").read_bytes().startswith(b"<?xml")
    assert (out / f"allocations-{today}.fix").read_bytes().startswith(b"8=FIX.4.4\x01")
    bad = subprocess.run([sys.executable, "-m", "openoms", "posttrade", "eod", "--date", "26/11", "--out-dir", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "not a date" in bad.stderr and "Traceback" not in bad.stderr
    external = tmp_path / "custodian.csv"
    external.write_text("account,symbol,quantity\nACC-EQ-1,AAPL,1000\nACC-EQ-2,MSFT,200\n")
    breaks = subprocess.run([sys.executable, "-m", "openoms", "posttrade", "reconcile", str(external),
                             *store.journal_args()], capture_output=True, text=True, timeout=120)
    assert breaks.returncode == 1, breaks.stderr
    assert breaks.stdout.splitlines()[1:] == ["ACC-EQ-2,MSFT,250,200,50,quantity"]
