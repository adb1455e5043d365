"""Pre-trade risk through the REST API and the limits file, with the demo market running."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openoms.api.rest import create_app
from openoms.bootstrap import build
from openoms.journal.codec import decode
from stores import Store


def make_client(store: Store, **settings: Any) -> TestClient:
    oms = build(store.config(market_data_interval_ms=50, **settings))
    client = TestClient(create_app(oms, manage_lifecycle=True, trusted_header=True), raise_server_exceptions=False)
    client.oms = oms  # type: ignore[attr-defined]
    client.store = store  # type: ignore[attr-defined]
    return client


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with make_client(store) as test_client:
        yield test_client


def order(**fields: Any) -> dict[str, Any]:
    return {"account": "ACC-EQ-1", "symbol": "AAPL", "side": "buy", "quantity": "100", "price": "200.00", **fields}


def journal_types(client: TestClient) -> list[str]:
    return [type(decode(p)).__name__ for _, p in client.store.rows()]  # type: ignore[attr-defined]


def test_demo_limits_are_loaded_and_journaled_at_start(client: TestClient) -> None:
    limits = client.get("/api/v1/risk/limits").json()
    assert limits["limits"]["firm:DEMO"]["price_collar_pct"] == "10"
    assert limits["limits"]["account:ACC-EQ-2"] == {"max_order_notional": "5000000"}
    assert journal_types(client).count("LimitsChanged") == 4


def test_every_rule_answers_with_rule_scope_limit_and_value(client: TestClient) -> None:
    r = client.post("/api/v1/orders", json=order(quantity="2000000"))
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "RISK_MAX_QUANTITY"
    assert r.json()["error"]["detail"] == {"rule": "max_order_quantity", "scope": "desk:EQUITIES", "limit": "1000000", "value": "2000000"}
    r = client.post("/api/v1/orders", json=order(account="ACC-EQ-2", quantity="30000"))
    assert r.json()["error"]["code"] == "RISK_MAX_NOTIONAL" and r.json()["error"]["detail"]["scope"] == "account:ACC-EQ-2"
    r = client.post("/api/v1/orders", json=order(price="400.00"))
    assert r.json()["error"]["code"] == "RISK_PRICE_COLLAR"
    assert client.post("/api/v1/orders", json=order()).status_code == 201


def test_limit_and_restricted_list_changes_over_rest_take_effect_and_are_journaled(client: TestClient) -> None:
    r = client.put("/api/v1/risk/limits/account:ACC-EQ-1", json={"limits": {"max_order_quantity": 50}, "reason": "new fund"},
                   headers={"X-OMS-User": "alice"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "NOT_PERMITTED"
    assert "risk_officer" in r.json()["error"]["message"]
    r = client.put("/api/v1/risk/limits/account:ACC-EQ-1", json={"limits": {"max_order_quantity": 50}, "reason": "new fund"},
                   headers={"X-OMS-User": "risk"})
    assert r.status_code == 200 and r.json()["changed"] is True
    assert client.post("/api/v1/orders", json=order(quantity="51")).json()["error"]["code"] == "RISK_MAX_QUANTITY"
    assert client.post("/api/v1/orders", json=order(quantity="50")).status_code == 201
    r = client.put("/api/v1/risk/restricted/firm:DEMO", json={"symbols": ["AAPL"], "reason": "deal team wall-crossed"})
    assert r.status_code == 200
    assert client.post("/api/v1/orders", json=order(quantity="1")).json()["error"]["code"] == "RISK_RESTRICTED"
    option = order(symbol="AAPL261218C00230000", quantity="1", price="12.00")
    assert client.post("/api/v1/orders", json=option).json()["error"]["code"] == "RISK_RESTRICTED"
    limits = client.get("/api/v1/risk/limits").json()
    assert limits["limits"]["account:ACC-EQ-1"] == {"max_order_quantity": "50"}
    assert limits["restricted"] == {"firm:DEMO": ["AAPL"]}
    r = client.put("/api/v1/risk/limits/account:ACC-EQ-1", json={"limits": None, "reason": "back to desk limits"})
    assert r.status_code == 200
    assert "account:ACC-EQ-1" not in client.get("/api/v1/risk/limits").json()["limits"]
    assert journal_types(client).count("LimitsChanged") == 6
    assert journal_types(client).count("CommandRejected") == 4  # alice's change and three refused orders
    assert journal_types(client).count("RestrictedListChanged") == 1


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/api/v1/risk/limits/planet:EARTH", {"limits": {"max_order_quantity": "1"}, "reason": "x"}, "INVALID_LIMIT"),
        ("/api/v1/risk/limits/firm:DEMO", {"limits": {"max_order_quantity": "-1"}, "reason": "x"}, "INVALID_LIMIT"),
        ("/api/v1/risk/limits/firm:DEMO", {"limits": {"max_order_size": "1"}, "reason": "x"}, "INVALID_LIMIT"),
        ("/api/v1/risk/limits/firm:DEMO", {"limits": {"max_order_quantity": "1"}}, "INVALID_FIELD"),
        ("/api/v1/risk/limits/firm:DEMO", {"limits": {"max_order_quantity": "1"}, "reason": ""}, "INVALID_FIELD"),
        ("/api/v1/risk/restricted/firm:DEMO", {"symbols": [""], "reason": "x"}, "INVALID_FIELD"),
    ],
)
def test_bad_limit_changes_are_refused_and_change_nothing(client: TestClient, path: str, body: dict[str, Any], code: str) -> None:
    before = client.get("/api/v1/risk/limits").json()
    r = client.put(path, json=body)
    assert r.status_code == 422 and r.json()["error"]["code"] == code
    assert client.get("/api/v1/risk/limits").json() == before


def test_a_limits_file_is_authoritative_for_its_scopes(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "limits.toml"
    path.write_text('[limits."firm:DEMO"]\nmax_order_quantity = "10"\nprice_collar_pct = "10"\n[restricted]\n"account:ACC-EQ-2" = ["MSFT"]\n')
    with make_client(store, limits_file=path) as client:
        assert client.post("/api/v1/orders", json=order(quantity="11")).json()["error"]["code"] == "RISK_MAX_QUANTITY"
        assert client.get("/api/v1/risk/limits").json()["restricted"] == {"account:ACC-EQ-2": ["MSFT"]}


@pytest.mark.parametrize(
    ("content", "message"),
    [('[limits."firm:DEMO"]\nmax_order_quantity = 1.5\n', "decimal string or an integer"),
     ('[limits."moon:X"]\nmax_order_quantity = "1"\n', "scope must be level:id"),
     ('[limts]\n', "unknown section"), ("not toml [", "limits file")],
)
def test_a_bad_limits_file_stops_oms_serve_with_the_reason(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "limits.toml"
    path.write_text(content)
    result = subprocess.run([sys.executable, "-m", "openoms", "serve", "--data-dir", str(tmp_path / "d"), "--port", "1"],
                            capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "OMS_LIMITS_FILE": str(path),
                                                                             "COLUMNS": "200"})
    assert result.returncode == 2
    assert message in result.stdout + result.stderr and "Traceback" not in result.stdout + result.stderr


def test_kill_switch_over_rest_cancels_working_orders_and_blocks_new_ones(client: TestClient) -> None:
    import time

    resting = client.post("/api/v1/orders", json=order(price="200.00")).json()["order"]
    other = client.post("/api/v1/orders", json=order(account="ACC-EQ-2", price="200.00")).json()["order"]
    r = client.post("/api/v1/risk/kill-switch", json={"scope": "account:ACC-EQ-1", "reason": "fat finger"})
    assert r.status_code == 202 and r.json()["canceling"] == [resting["order_id"]]
    deadline = time.monotonic() + 5
    while client.get(f"/api/v1/orders/{resting['order_id']}").json()["order"]["status"] != "canceled":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert client.get(f"/api/v1/orders/{other['order_id']}").json()["order"]["status"] == "new"
    refused = client.post("/api/v1/orders", json=order())
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "KILL_SWITCH"
    assert client.get("/api/v1/risk/limits").json()["kill_switches"] == {"account:ACC-EQ-1": "fat finger"}
    assert client.post("/api/v1/risk/kill-switch", json={"scope": "moon:X", "reason": "x"}).json()["error"]["code"] == "INVALID_SCOPE"
    assert client.post("/api/v1/risk/kill-switch/release", json={"scope": "account:ACC-EQ-1", "reason": "ok"}).status_code == 200
    assert client.post("/api/v1/orders", json=order()).status_code == 201
    assert "KillSwitchEngaged" in journal_types(client) and "KillSwitchReleased" in journal_types(client)


def test_limit_usage_counts_working_orders_live(client: TestClient) -> None:
    r = client.put("/api/v1/risk/limits/account:ACC-EQ-1", json={"limits": {"max_long_position": 1000, "max_short_position": 400},
                                                                 "reason": "usage test"})
    assert r.status_code == 200
    assert client.post("/api/v1/orders", json=order(quantity="300")).status_code == 201
    assert client.post("/api/v1/orders", json=order(quantity="100", side="sell", price="260.00")).status_code == 201
    usage = client.get("/api/v1/risk/usage", params={"account": "ACC-EQ-1"}).json()["usage"]
    assert usage == [{
        "account": "ACC-EQ-1", "symbol": "AAPL", "position": "0", "working_buys": "300", "working_sells": "100",
        "long": {"scope": "account:ACC-EQ-1", "limit": "1000", "used": "300", "used_pct": "30.00"},
        "short": {"scope": "account:ACC-EQ-1", "limit": "400", "used": "100", "used_pct": "25.00"},
    }]
    refused = client.post("/api/v1/orders", json=order(quantity="701"))
    assert refused.json()["error"]["code"] == "RISK_POSITION_LIMIT"
    assert client.get("/api/v1/risk/usage", params={"account": "ACC-EQ-2"}).json()["usage"] == []


def test_what_if_runs_every_check_and_sends_nothing(client: TestClient) -> None:
    before = journal_types(client)
    result = client.post("/api/v1/risk/what-if", json=order(quantity="2000000", price="400.00")).json()
    assert result["would_be_accepted"] is False
    by_check = {c["check"]: c for c in result["checks"]}
    assert by_check["validation"]["passed"] and by_check["kill_switch"]["passed"]
    assert by_check["max_order_quantity"]["code"] == "RISK_MAX_QUANTITY"
    assert by_check["price_collar"]["code"] == "RISK_PRICE_COLLAR"
    assert by_check["max_order_notional"]["code"] == "RISK_MAX_NOTIONAL"
    assert by_check["restricted_list"]["passed"] and by_check["position_limits"]["passed"]
    ok = client.post("/api/v1/risk/what-if", json=order()).json()
    assert ok["would_be_accepted"] is True and all(c["passed"] for c in ok["checks"])
    unknown = client.post("/api/v1/risk/what-if", json=order(symbol="NOPE")).json()
    assert unknown["checks"] == [{"check": "validation", "passed": False, "code": "UNKNOWN_INSTRUMENT",
                                  "message": "unknown instrument 'NOPE'", "detail": {"symbol": "NOPE"}}]
    assert client.post("/api/v1/risk/what-if", content="{").json()["error"]["code"] == "MALFORMED_JSON"
    assert journal_types(client) == before
    assert client.get("/api/v1/orders").json()["count"] == 0


def test_overrides_locates_watch_lists_and_account_usage_over_rest(client: TestClient) -> None:
    risk = {"X-OMS-User": "risk"}
    future = "2099-01-01T00:00:00Z"
    r = client.post("/api/v1/risk/overrides/account:ACC-EQ-1", headers=risk,
                    json={"limits": {"max_order_quantity": "5", "allowed_asset_classes": ["equity"]}, "expires_at": future,
                          "reason": "new PM, first week"})
    assert r.status_code == 201 and r.json()["expires_at"] == "2099-01-01T00:00:00Z"
    assert client.post("/api/v1/orders", json=order(quantity="6")).json()["error"]["code"] == "RISK_MAX_QUANTITY"
    limits = client.get("/api/v1/risk/limits").json()
    assert limits["overrides"]["account:ACC-EQ-1"]["limits"] == {"max_order_quantity": "5", "allowed_asset_classes": "equity"}
    assert limits["fx_rates"] == {"EURUSD": "1.08"}
    assert client.request("DELETE", "/api/v1/risk/overrides/account:ACC-EQ-1", headers=risk,
                          json={"reason": "PM approved"}).status_code == 200
    assert client.post("/api/v1/orders", json=order(quantity="6")).status_code == 201

    assert client.post("/api/v1/risk/locates", json={"account": "ACC-EQ-1", "symbol": "AAPL", "locate_id": "GS-1",
                                                     "quantity": "100", "expires_at": future},
                       headers={"X-OMS-User": "alice"}).json()["error"]["code"] == "NOT_PERMITTED"
    r = client.post("/api/v1/risk/locates", json={"account": "ACC-EQ-1", "symbol": "AAPL", "locate_id": "GS-1",
                                                  "quantity": "100", "expires_at": future, "source": "GS stock loan"},
                    headers={"X-OMS-User": "ops"})
    assert r.status_code == 201
    assert client.post("/api/v1/orders", json=order(side="sell_short", quantity="40", price="260.00")).status_code == 201
    locates = client.get("/api/v1/risk/locates", params={"account": "ACC-EQ-1"}).json()["locates"]
    assert [(row["locate_id"], row["used"], row["available"]) for row in locates] == [("GS-1", "40", "60")]
    assert client.get("/api/v1/risk/locates", params={"account": "NOPE"}).status_code == 404

    assert client.put("/api/v1/risk/watch/firm:DEMO", json={"symbols": ["MSFT"], "reason": "rumours"}).status_code == 200
    placed = client.post("/api/v1/orders", json=order(symbol="MSFT", price="380.00", quantity="1"))
    assert placed.status_code == 201
    history = client.get(f"/api/v1/orders/{placed.json()['order']['order_id']}").json()["events"]
    assert history[0]["alerts"] == ["MSFT is on the watch list of firm:DEMO"]

    usage = client.get("/api/v1/risk/usage", params={"account": "ACC-EQ-1"}).json()["accounts"][0]
    assert usage["currency"] == "USD" and usage["locates"] == {"AAPL": "60"}
    assert usage["order_to_trade"]["messages"] == 3  # accepted orders only
    assert set(usage) >= {"credit_limit", "max_gross_exposure", "max_net_exposure", "max_daily_loss", "daily_pnl"}


def test_basket_what_if_judges_each_order_and_the_basket_against_credit(client: TestClient) -> None:
    assert client.put("/api/v1/risk/limits/account:ACC-EQ-1", headers={"X-OMS-User": "risk"},
                      json={"limits": {"credit_limit": "50000"}, "reason": "basket test"}).status_code == 200
    basket = {"orders": [order(quantity="100"), order(quantity="100"), order(quantity="100", symbol="SAP", price="190.00")]}
    result = client.post("/api/v1/risk/what-if/basket", json=basket).json()
    assert [o["would_be_accepted"] for o in result["orders"]] == [True, True, True]  # each alone fits
    credit = result["credit"]["ACC-EQ-1"]
    assert credit["basket_buys"] == "60520.0000" and credit["fits"] is False  # 40,000 + 19,000 EUR x 1.08
    assert result["would_be_accepted"] is False
    assert client.post("/api/v1/risk/what-if/basket", json={"orders": []}).json()["error"]["code"] == "INVALID_FIELD"
    assert client.get("/api/v1/orders").json()["count"] == 0
