"""Operations against a real `oms serve`: `oms status` at a glance, JSON logs with order ids, /metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from conftest import free_port


def oms(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "openoms", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "COLUMNS": "200"})


def test_status_json_logs_and_metrics_of_a_running_server(server_factory: Any) -> None:
    server = server_factory(extra=["--log-format", "json", "--no-market-data"]).start()
    with server.client() as client:
        refused = client.post("/api/v1/orders", json={"account": "ACC-EQ-1", "symbol": "AAPL", "side": "buy",
                                                      "quantity": "2000000", "price": "1.00", "cl_ord_id": "BIG-1"})
        assert refused.status_code == 422
        assert "oms_rejects_total" in client.get("/metrics").text

    status = oms("status", "--url", server.url)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "READY" in status.stdout and "venue SIM" in status.stdout and "connected" in status.stdout
    as_json = json.loads(oms("status", "--url", server.url, "--json").stdout)
    assert as_json["ready"]["ready"] is True and as_json["health"]["engine"]["running"] is True

    assert server.terminate() == 0
    records = [json.loads(line) for line in server.log.read_text().splitlines() if line.strip()]
    assert any(r["logger"].startswith("uvicorn") for r in records)  # the web server's own lines are JSON too
    refusal = next(r for r in records if r.get("event") == "CommandRejected")
    assert (refusal["cl_ord_id"], refusal["code"], refusal["account"]) == ("BIG-1", "RISK_MAX_QUANTITY", "ACC-EQ-1")


def test_status_says_when_nothing_answers() -> None:
    result = oms("status", "--url", f"http://127.0.0.1:{free_port()}", "--timeout", "2")
    assert result.returncode == 2 and "no OpenOMS answering" in result.stderr and "Traceback" not in result.stderr
