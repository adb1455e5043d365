"""Second review: single REST requests that take the whole engine down (503 for everyone)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openoms.api.rest import create_app
from openoms.bootstrap import build
from stores import Store


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    oms = build(store.config(market_data_interval_ms=50, gc_threshold=0, gil_switch_interval_us=0))
    with TestClient(create_app(oms, manage_lifecycle=True, trusted_header=True), raise_server_exceptions=False) as test_client:
        yield test_client


def order_body(**fields: Any) -> dict[str, Any]:
    return {"account": "ACC-EQ-1", "symbol": "AAPL", "side": "buy", "quantity": "10", "price": "100.00", **fields}


def first_execution(client: TestClient) -> str:
    r = client.post("/api/v1/orders", json=order_body(price="245.00"))  # crosses the simulated offer (within the 10% demo collar)
    assert r.status_code == 201, r.text
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        executions = client.get("/api/v1/executions").json()["executions"]
        if executions:
            return str(executions[0]["exec_id"])
        time.sleep(0.02)
    raise AssertionError("no fill")


@pytest.mark.parametrize("last_qty", ["NaN", "1E+999999"])
def test_correction_with_a_non_number_is_a_4xx_and_the_engine_keeps_running(client: TestClient, last_qty: str) -> None:
    """POST /api/v1/executions/{id}/correct {"last_qty":"NaN","last_px":"300"} -> 503
    ENGINE_UNAVAILABLE and /health 503 "engine error on VenueTradeCorrected: InvalidOperation";
    every later order is refused until a restart. Expected: 422, engine healthy."""
    exec_id = first_execution(client)
    r = client.post(f"/api/v1/executions/{exec_id}/correct", json={"last_qty": last_qty, "last_px": "300"})
    assert 400 <= r.status_code < 500, r.text
    assert client.get("/health").status_code == 200, client.get("/health").text
    assert client.post("/api/v1/orders", json=order_body(cl_ord_id="AFTER")).status_code == 201


def test_gtd_far_in_the_future_is_a_4xx_and_the_engine_keeps_running(client: TestClient) -> None:
    """POST /api/v1/orders with tif gtd, expire_at 2600-01-01T00:00:00Z -> 503; the journal writer
    cannot encode expire_at (> 2**64 ns) and the engine fails closed for everyone. Expected: 422."""
    r = client.post("/api/v1/orders", json=order_body(tif="gtd", expire_at="2600-01-01T00:00:00Z"))
    assert 400 <= r.status_code < 500, r.text
    assert client.get("/health").status_code == 200, client.get("/health").text
