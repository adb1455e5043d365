"""The REST API over a real journal, every test on SQLite and on PostgreSQL: every bad input
gets a precise 4xx and changes nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openoms.api.rest import create_app
from openoms.bootstrap import build
from openoms.journal.codec import decode
from stores import Store


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    oms = build(store.config(market_data_interval_ms=50))
    with TestClient(create_app(oms, manage_lifecycle=True, trusted_header=True), raise_server_exceptions=False) as test_client:
        test_client.oms = oms  # type: ignore[attr-defined]
        test_client.store = store  # type: ignore[attr-defined]
        yield test_client


def journal_rows(client: TestClient) -> list[tuple[int, str]]:
    """(seq, event type) of every durable record, read over a separate connection."""
    rows = client.store.rows()  # type: ignore[attr-defined]
    return [(seq, type(decode(payload)).__name__) for seq, payload in rows]


def order_body(**fields: Any) -> dict[str, Any]:
    return {"account": "ACC-EQ-1", "symbol": "AAPL", "side": "buy", "quantity": "100", "price": "100.00", **fields}


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["message"]
    assert "Traceback" not in response.text
    return error


def wait_status(client: TestClient, order_id: str, statuses: set[str], timeout: float = 5) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        order = client.get(f"/api/v1/orders/{order_id}").json()["order"]
        if order["status"] in statuses or time.monotonic() > deadline:
            return order
        time.sleep(0.02)


def test_submit_is_acknowledged_only_once_journaled(client: TestClient) -> None:
    r = client.post("/api/v1/orders", json=order_body(cl_ord_id="A-1"))
    assert r.status_code == 201, r.text
    order = r.json()["order"]
    assert order["status"] == "pending_new"
    assert order["quantity"] == "100" and order["price"] == "100.00"
    types = [t for _, t in journal_rows(client)]
    assert "OrderAccepted" in types and "OrderRouted" in types


def test_numbers_are_read_exactly_without_float_rounding(client: TestClient) -> None:
    body = '{"account":"ACC-FI-1","symbol":"UST-10Y","side":"buy","quantity":1000000,"price":97.5078125}'
    r = client.post("/api/v1/orders", content=body, headers={"X-OMS-User": "bob"})
    assert r.status_code == 201, r.text
    assert r.json()["order"]["price"] == "97.5078125"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, "MALFORMED_JSON"),
        ("", 400, "MALFORMED_JSON"),
        ("[1,2]", 422, "INVALID_FIELD"),
        ('{"account":"ACC-EQ-1","symbol":"AAPL","side":"buy"}', 422, "INVALID_FIELD"),  # no quantity
        ('{"account":"ACC-EQ-1","symbol":"AAPL","side":"up","quantity":"1","price":"1"}', 422, "INVALID_FIELD"),
        ('{"account":"ACC-EQ-1","symbol":"AAPL","side":"buy","quantity":"abc","price":"1"}', 422, "INVALID_FIELD"),
        ('{"account":"ACC-EQ-1","symbol":"AAPL","side":"buy","quantity":"1","price":"1","colour":"red"}', 422, "INVALID_FIELD"),
        ('{"account":"ACC-EQ-1","symbol":"AAPL","side":"buy","quantity":"1","price":"1","tif":"gtd",'
         '"expire_at":"2030-01-01T00:00:00"}', 422, "INVALID_FIELD"),  # naive time
    ],
)
def test_malformed_input_is_refused_and_nothing_is_journaled(client: TestClient, body: str, status: int, code: str) -> None:
    before = journal_rows(client)
    assert_error(client.post("/api/v1/orders", content=body), status, code)
    assert journal_rows(client) == before


@pytest.mark.parametrize(
    ("fields", "user", "status", "code"),
    [
        ({"symbol": "NOPE"}, None, 422, "UNKNOWN_INSTRUMENT"),
        ({"account": "ACC-NOPE"}, None, 422, "UNKNOWN_ACCOUNT"),
        ({"price": "100.005"}, None, 422, "TICK_SIZE_VIOLATION"),
        ({"symbol": "UST-10Y", "account": "ACC-FI-1", "quantity": "1500", "price": "98"}, None, 422, "LOT_SIZE_VIOLATION"),
        ({"quantity": "0"}, None, 422, "INVALID_QUANTITY"),
        ({"quantity": "-5"}, None, 422, "INVALID_QUANTITY"),
        ({"quantity": "1e30"}, None, 422, "INVALID_QUANTITY"),
        ({"quantity": "NaN"}, None, 422, "INVALID_QUANTITY"),
        ({"price": "-1"}, None, 422, "INVALID_PRICE"),
        ({"ord_type": "market"}, None, 422, "INVALID_PRICE"),  # market with a price
        ({"ord_type": "stop"}, None, 422, "INVALID_PRICE"),  # stop without stop_price
        ({"tif": "gtd"}, None, 422, "INVALID_TIME_IN_FORCE"),
        ({}, "mallory", 403, "UNKNOWN_TRADER"),
        ({"account": "ACC-FI-1"}, "alice", 403, "NOT_PERMITTED"),
    ],
)
def test_business_rejects_answer_precisely_and_create_no_order(
    client: TestClient, fields: dict[str, Any], user: str | None, status: int, code: str
) -> None:
    before = journal_rows(client)
    orders_before = client.get("/api/v1/orders").json()["count"]
    headers = {"X-OMS-User": user} if user else {}
    error = assert_error(client.post("/api/v1/orders", json=order_body(**fields), headers=headers), status, code)
    assert error["detail"] is not None
    after = journal_rows(client)
    # Exactly one audit record of the refusal, and no order.
    assert [t for _, t in after[len(before):]] == ["CommandRejected"]
    assert client.get("/api/v1/orders").json()["count"] == orders_before


def test_duplicate_cl_ord_id_is_refused(client: TestClient) -> None:
    assert client.post("/api/v1/orders", json=order_body(cl_ord_id="DUP-1")).status_code == 201
    assert_error(client.post("/api/v1/orders", json=order_body(cl_ord_id="DUP-1")), 409, "DUPLICATE_CL_ORD_ID")
    # Unique per account: the same ClOrdID on another account is fine.
    assert client.post("/api/v1/orders", json=order_body(cl_ord_id="DUP-1", account="ACC-EQ-2")).status_code == 201


def test_unknown_order_on_every_order_path(client: TestClient) -> None:
    assert_error(client.get("/api/v1/orders/O999"), 404, "UNKNOWN_ORDER")
    assert_error(client.post("/api/v1/orders/O999/cancel"), 404, "UNKNOWN_ORDER")
    assert_error(client.post("/api/v1/orders/O999/replace", json={"quantity": 5}), 404, "UNKNOWN_ORDER")


def test_cancel_of_a_finished_order_is_too_late(client: TestClient) -> None:
    quote = client.get("/api/v1/marketdata/AAPL").json()
    price = str((Decimal(quote["ask"]) + 5).quantize(Decimal("0.01")))
    order = client.post("/api/v1/orders", json=order_body(quantity="10", price=price)).json()["order"]
    assert wait_status(client, order["order_id"], {"filled"})["status"] == "filled"
    error = assert_error(client.post(f"/api/v1/orders/{order['order_id']}/cancel"), 409, "TOO_LATE")
    assert error["detail"]["status"] == "filled"
    assert_error(client.post(f"/api/v1/orders/{order['order_id']}/replace", json={"quantity": 20}), 409, "TOO_LATE")


def test_replace_and_cancel_round_trip_through_the_venue(client: TestClient) -> None:
    order = client.post("/api/v1/orders", json=order_body(price="1.00", cl_ord_id="R-1")).json()["order"]
    assert wait_status(client, order["order_id"], {"new"})["status"] == "new"
    r = client.post(f"/api/v1/orders/{order['order_id']}/replace", json={"quantity": "150", "price": "1.01", "cl_ord_id": "R-2"})
    assert r.status_code == 202, r.text
    assert r.json()["order"]["status"] == "pending_replace"
    replaced = wait_status(client, order["order_id"], {"new"})
    assert (replaced["quantity"], replaced["price"], replaced["cl_ord_id"]) == ("150", "1.01", "R-2")
    assert_error(client.post(f"/api/v1/orders/{order['order_id']}/replace", json={"price": "1.015"}), 422, "TICK_SIZE_VIOLATION")
    assert_error(client.post(f"/api/v1/orders/{order['order_id']}/replace", json={}), 422, "INVALID_FIELD")
    r = client.post(f"/api/v1/orders/{order['order_id']}/cancel", json={"cl_ord_id": "R-3"})
    assert r.status_code == 202 and r.json()["order"]["status"] == "pending_cancel"
    canceled = wait_status(client, order["order_id"], {"canceled"})
    assert canceled["status"] == "canceled" and canceled["cum_qty"] == "0" and canceled["leaves_qty"] == "0"
    history = client.get(f"/api/v1/orders/{order['order_id']}").json()["events"]
    assert [e["type"] for e in history] == [
        "OrderAccepted", "OrderRouted", "OrderAcknowledged", "ReplaceRequested", "OrderReplaced",
        "CommandRejected", "CancelRequested", "OrderCanceled",
    ]
    assert all(e["actor"][0] in ("demo", "SIM") and e["time"].endswith("Z") for e in history)


def test_fills_show_in_executions_and_positions(client: TestClient) -> None:
    quote = client.get("/api/v1/marketdata/MSFT").json()
    price = str((Decimal(quote["ask"]) + 5).quantize(Decimal("0.01")))
    order = client.post("/api/v1/orders", json=order_body(symbol="MSFT", quantity="30", price=price)).json()["order"]
    assert wait_status(client, order["order_id"], {"filled"})["status"] == "filled"
    executions = client.get("/api/v1/executions", params={"order_id": order["order_id"]}).json()["executions"]
    assert sum(Decimal(e["quantity"]) for e in executions) == 30
    positions = client.get("/api/v1/positions", params={"account": "ACC-EQ-1", "symbol": "MSFT"}).json()["positions"]
    assert positions[0]["quantity"] == "30"


def test_query_filters_and_reference_endpoints(client: TestClient) -> None:
    client.post("/api/v1/orders", json=order_body(price="1.00"))
    assert_error(client.get("/api/v1/orders", params={"status": "sleeping"}), 422, "INVALID_FIELD")
    assert_error(client.get("/api/v1/orders", params={"limit": "0"}), 422, "INVALID_FIELD")
    assert client.get("/api/v1/orders", params={"account": "ACC-EQ-1", "symbol": "AAPL"}).json()["count"] >= 1
    assert client.get("/api/v1/orders", params={"symbol": "MSFT"}).json()["count"] == 0
    symbols = {i["symbol"] for i in client.get("/api/v1/instruments").json()["instruments"]}
    assert {"AAPL", "UST-10Y", "ESZ6", "AAPL261218C00230000"} <= symbols
    assert {a["account"] for a in client.get("/api/v1/accounts").json()["accounts"]} == {"ACC-EQ-1", "ACC-EQ-2", "ACC-FI-1"}
    md = client.get("/api/v1/marketdata/AAPL").json()
    assert Decimal(md["bid"]) < Decimal(md["ask"])
    assert_error(client.get("/api/v1/marketdata/NOPE"), 404, "UNKNOWN_INSTRUMENT")
    assert_error(client.get("/api/v1/nowhere"), 404, "NOT_FOUND")
    assert_error(client.delete("/api/v1/orders"), 405, "METHOD_NOT_ALLOWED")
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["journal"]["durability"] == "group"
    assert client.get("/openapi.json").json()["paths"]["/api/v1/orders"]["post"]["requestBody"]


def test_journal_failure_fails_closed(client: TestClient) -> None:
    oms = client.oms  # type: ignore[attr-defined]
    oms.journal._conn.close()  # the disk goes away under the engine
    r = client.post("/api/v1/orders", json=order_body())
    assert_error(r, 503, "ENGINE_UNAVAILABLE")
    assert_error(client.post("/api/v1/orders", json=order_body()), 503, "ENGINE_UNAVAILABLE")
    health = client.get("/health")
    assert health.status_code == 503 and "journal write failed" in health.json()["engine"]["failure"]


def test_gtd_order_expires_at_its_time_and_day_orders_at_end_of_day(client: TestClient) -> None:
    from datetime import UTC, datetime, timedelta

    expire_at = (datetime.now(UTC) + timedelta(seconds=1.5)).isoformat()
    gtd = client.post("/api/v1/orders", json=order_body(price="1.00", tif="gtd", expire_at=expire_at)).json()["order"]
    day = client.post("/api/v1/orders", json=order_body(price="1.00")).json()["order"]
    gtc = client.post("/api/v1/orders", json=order_body(price="1.00", tif="gtc")).json()["order"]
    assert wait_status(client, gtd["order_id"], {"expired"}, timeout=6)["status"] == "expired"
    assert client.get(f"/api/v1/orders/{day['order_id']}").json()["order"]["status"] == "new"

    assert client.post("/api/v1/admin/end-of-day").status_code == 202
    assert client.get(f"/api/v1/orders/{day['order_id']}").json()["order"]["status"] == "expired"
    done = client.get(f"/api/v1/orders/{gtc['order_id']}").json()["order"]
    assert (done["status"], done["leaves_qty"]) == ("done_for_day", "0")
    assert client.post("/api/v1/admin/start-of-day").status_code == 202
    restated = client.get(f"/api/v1/orders/{gtc['order_id']}").json()["order"]
    assert (restated["status"], restated["leaves_qty"]) == ("new", "100")
