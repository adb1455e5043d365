"""Access control over REST and the WebSocket stream, with real sign-in: every role and action
pair, allowed and denied; entitlements per account; the engine judging the same user."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from openoms.access.users import UserStore
from openoms.api.access import ROUTE_ACTIONS
from openoms.api.rest import create_app
from openoms.bootstrap import build
from stores import Store

ROLES = ["trader", "portfolio_manager", "risk_officer", "operations", "compliance", "administrator", "read_only"]

# What each role may do: written out here, not read from the policy, so a change to it fails a test.
ALLOWED: dict[str, set[str]] = {
    "read": set(ROLES),
    "trade": {"trader", "administrator"},
    "what_if": {"trader", "portfolio_manager", "risk_officer", "administrator"},
    "adjust_trades": {"operations", "administrator"},
    "trading_day": {"operations", "administrator"},
    "set_risk": {"risk_officer", "administrator"},
    "kill_switch": {"risk_officer", "administrator"},
    "locates": {"operations", "risk_officer", "administrator"},
    "audit": {"compliance", "risk_officer", "operations", "administrator"},
    "admin_users": {"administrator"},
    "routing": {"operations", "administrator"},
    "allocate": {"trader", "portfolio_manager", "operations", "administrator"},
    "settlement": {"operations", "administrator"},
    "stage": {"portfolio_manager", "administrator"},
}
FUTURE = "2030-01-01T00:00:00Z"


def order(account: str = "ACC-EQ-1", price: str = "200.00", **fields: Any) -> dict[str, Any]:
    return {"account": account, "symbol": "AAPL", "side": "buy", "quantity": "1", "price": price, **fields}


# One representative request per action: (method, path, body).
REQUESTS: dict[str, list[tuple[str, str, Any]]] = {
    "read": [("GET", "/api/v1/orders", None), ("GET", "/api/v1/positions", None), ("GET", "/api/v1/risk/usage", None),
             ("GET", "/api/v1/feeds", None)],
    "trade": [("POST", "/api/v1/orders", order()), ("POST", "/api/v1/staged/NO-SUCH/pick-up", None)],
    "what_if": [("POST", "/api/v1/risk/what-if", order())],
    "adjust_trades": [("POST", "/api/v1/executions/NO-SUCH-EXEC/bust", None)],
    "trading_day": [("POST", "/api/v1/admin/start-of-day", None)],
    "set_risk": [("PUT", "/api/v1/risk/watch/desk:RATES", {"symbols": [], "reason": "matrix"})],
    "kill_switch": [("POST", "/api/v1/risk/kill-switch", {"scope": "instrument:SAP", "reason": "matrix"}),
                    ("POST", "/api/v1/risk/kill-switch/release", {"scope": "instrument:SAP", "reason": "matrix"})],
    "locates": [("POST", "/api/v1/risk/locates", {"account": "ACC-EQ-1", "symbol": "MSFT", "locate_id": "L-1", "quantity": "100",
                                                  "expires_at": FUTURE, "source": "matrix"})],
    "audit": [("GET", "/api/v1/audit/controls", None)],
    "admin_users": [("GET", "/api/v1/users", None)],
    # Bodies the server refuses as malformed: the access decision comes first (403), else a 4xx that is not.
    "routing": [("PUT", "/api/v1/routing/rules", {}), ("PUT", "/api/v1/venues/SIM-C/state", {})],
    "allocate": [("POST", "/api/v1/posttrade/allocations", {})],
    "settlement": [("POST", "/api/v1/posttrade/settlement/instruct", {}),
                   ("POST", "/api/v1/posttrade/positions/load", {})],
    "stage": [("POST", "/api/v1/staged", {}), ("POST", "/api/v1/staged/NO-SUCH/cancel", None)],
}


@pytest.fixture(scope="module")
def app(module_store: Store) -> Iterator[tuple[TestClient, dict[str, str], UserStore]]:
    users = module_store.users()
    keys = {}
    for role in ROLES:
        # Oversight roles see every account by their role; the others are granted ACC-EQ-1 only.
        users.create(role, [role], ["ACC-EQ-1"] if role in ("trader", "portfolio_manager", "read_only") else [])
        keys[role] = users.issue_api_key(role, "matrix", actor="test")
    users.create("eq2-trader", ["trader"], ["ACC-EQ-2"])
    keys["eq2-trader"] = users.issue_api_key("eq2-trader", "matrix", actor="test")
    oms = build(module_store.config(market_data_interval_ms=50, gc_threshold=0, gil_switch_interval_us=0))
    with TestClient(create_app(oms, manage_lifecycle=True), raise_server_exceptions=False) as client:
        yield client, keys, users


def call(client: TestClient, key: str | None, method: str, path: str, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize("action", sorted(ALLOWED))
@pytest.mark.parametrize("role", ROLES)
def test_every_role_and_action_is_allowed_or_denied_over_rest(app: Any, role: str, action: str) -> None:
    client, keys, _ = app
    for method, path, body in REQUESTS[action]:
        response = call(client, keys[role], method, path, body)
        if role in ALLOWED[action]:
            assert response.status_code not in (401, 403), (role, action, path, response.text)
            assert response.status_code < 500, response.text
        else:
            assert response.status_code == 403, (role, action, path, response.text)
            assert response.json()["error"]["code"] == "NOT_PERMITTED"
            assert action in response.json()["error"]["message"]


@pytest.mark.parametrize("role", ROLES)
def test_every_role_may_subscribe_to_the_stream_and_sees_only_its_accounts(app: Any, role: str) -> None:
    client, keys, _ = app
    admin = keys["administrator"]
    call(client, admin, "POST", "/api/v1/orders", order("ACC-EQ-2", cl_ord_id=f"EQ2-{role}"))
    with client.websocket_connect("/api/v1/stream") as ws:
        ws.send_json({"type": "subscribe", "token": keys[role]})
        snapshot = ws.receive_json()
    assert snapshot["type"] == "snapshot"
    accounts = {o["account"] for o in snapshot["orders"]}
    if role in ("trader", "portfolio_manager", "read_only"):
        assert accounts <= {"ACC-EQ-1"}
    else:
        assert "ACC-EQ-2" in accounts


@pytest.mark.parametrize("token", [None, "", "oss_not-a-session", "oms_deadbeef_nope"])
def test_stream_without_a_valid_credential_is_refused(app: Any, token: str | None) -> None:
    client, _, _ = app
    with client.websocket_connect("/api/v1/stream") as ws:
        ws.send_json({"type": "subscribe", "token": token})
        answer = ws.receive_json()
    assert answer == {"type": "error", "code": "UNAUTHENTICATED", "message": answer["message"]}


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer oss_wrong", "Basic YWRtaW46eA==", "Bearer oms_x_y"])
def test_rest_without_a_valid_credential_is_401(app: Any, header: str | None) -> None:
    client, _, _ = app
    response = client.get("/api/v1/orders", headers={"Authorization": header} if header else {})
    assert response.status_code == 401 and response.json()["error"]["code"] == "UNAUTHENTICATED"


def test_trusted_header_is_ignored_when_sign_in_is_required(app: Any) -> None:
    client, _, _ = app
    assert client.get("/api/v1/orders", headers={"X-OMS-User": "demo"}).status_code == 401


def test_every_api_route_has_an_access_rule(app: Any) -> None:
    client, _, _ = app
    routes = {(method, r.path) for r in client.app.routes if isinstance(r, APIRoute) and r.path.startswith("/api/")
              for method in r.methods}
    assert routes - set(ROUTE_ACTIONS) == set()


def test_a_trader_sees_and_acts_only_on_granted_accounts(app: Any) -> None:
    client, keys, _ = app
    mine = call(client, keys["trader"], "POST", "/api/v1/orders", order(cl_ord_id="MINE-1")).json()["order"]
    theirs = call(client, keys["eq2-trader"], "POST", "/api/v1/orders", order("ACC-EQ-2", cl_ord_id="THEIRS-1")).json()["order"]
    listed = {o["order_id"] for o in call(client, keys["trader"], "GET", "/api/v1/orders").json()["orders"]}
    assert mine["order_id"] in listed and theirs["order_id"] not in listed
    for method, path in (("GET", f"/api/v1/orders/{theirs['order_id']}"), ("POST", f"/api/v1/orders/{theirs['order_id']}/cancel"),
                         ("GET", f"/api/v1/audit/orders/{theirs['order_id']}")):
        response = call(client, keys["trader"], method, path, {} if method == "POST" else None)
        assert response.status_code == 404 and response.json()["error"]["code"] == "UNKNOWN_ORDER", path  # as if absent
    refused = call(client, keys["trader"], "POST", "/api/v1/orders", order("ACC-EQ-2", cl_ord_id="NOT-MINE"))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "NOT_PERMITTED"
    # A read-only user granted ACC-EQ-1 sees the order but may not cancel it.
    assert call(client, keys["read_only"], "GET", f"/api/v1/orders/{mine['order_id']}").status_code == 200
    assert call(client, keys["read_only"], "POST", f"/api/v1/orders/{mine['order_id']}/cancel", {}).status_code == 403
    assert call(client, keys["trader"], "POST", f"/api/v1/orders/{mine['order_id']}/cancel", {}).status_code == 202


def test_actions_are_journaled_with_the_authenticated_user(app: Any) -> None:
    client, keys, _ = app
    placed = call(client, keys["trader"], "POST", "/api/v1/orders", order(cl_ord_id="WHO-1")).json()["order"]
    history = call(client, keys["compliance"], "GET", f"/api/v1/audit/orders/{placed['order_id']}").json()
    assert history["events"][0]["actor"]["user"] == "trader"
    engaged = call(client, keys["risk_officer"], "POST", "/api/v1/risk/kill-switch", {"scope": "instrument:NVDA", "reason": "who"})
    assert engaged.status_code == 202
    call(client, keys["risk_officer"], "POST", "/api/v1/risk/kill-switch/release", {"scope": "instrument:NVDA", "reason": "who"})
    controls = call(client, keys["compliance"], "GET", "/api/v1/audit/controls").json()["events"]
    engaged_rows = [row for row in controls if row["type"] == "KillSwitchEngaged" and row["detail"]["scope"] == "instrument:NVDA"]
    assert [row["actor"]["user"] for row in engaged_rows] == ["risk_officer"]


def test_denials_are_recorded_with_the_user(app: Any) -> None:
    client, keys, users = app
    call(client, keys["read_only"], "POST", "/api/v1/risk/kill-switch", {"scope": "firm:DEMO", "reason": "no"})
    assert any(d["username"] == "read_only" and d["action"] == "kill_switch" for d in users.denials())


def test_the_engine_sees_roles_granted_while_the_server_runs(app: Any) -> None:
    client, _, users = app
    users.create("late-risk", ["read_only"], ["ACC-EQ-1"])
    key = users.issue_api_key("late-risk", "matrix", actor="test")
    body = {"symbols": [], "reason": "late"}
    assert call(client, key, "PUT", "/api/v1/risk/watch/desk:EQUITIES", body).status_code == 403
    users.update("late-risk", "test", roles=["risk_officer"])
    assert call(client, key, "PUT", "/api/v1/risk/watch/desk:EQUITIES", body).status_code == 200  # the engine agreed too
    users.update("late-risk", "test", disabled=True)
    assert call(client, key, "GET", "/api/v1/orders").status_code == 401


def test_sign_in_gives_a_session_that_ends_on_sign_out(app: Any) -> None:
    client, _, users = app
    users.set_password("trader", "trader password 1", actor="test")
    assert client.post("/api/v1/auth/login", json={"username": "trader", "password": "wrong password!"}).status_code == 401
    assert client.post("/api/v1/auth/login", json={"username": "nobody", "password": "trader password 1"}).status_code == 401
    signed_in = client.post("/api/v1/auth/login", json={"username": "trader", "password": "trader password 1"})
    assert signed_in.status_code == 200, signed_in.text
    token = signed_in.json()["token"]
    me = call(client, token, "GET", "/api/v1/auth/me").json()
    assert (me["user"], me["roles"], me["accounts"]) == ("trader", ["trader"], ["ACC-EQ-1"])
    assert "trade" in me["actions"] and "kill_switch" not in me["actions"]
    call(client, token, "POST", "/api/v1/auth/logout")
    assert call(client, token, "GET", "/api/v1/orders").status_code == 401


def test_an_expired_session_is_refused(store: Store) -> None:
    users = store.users(session_ttl_seconds=0)
    users.create("t", ["trader"], ["ACC-EQ-1"], password="a long password")
    login = users.login("t", "a long password")
    assert login is not None and login[1] <= time.time_ns()
    assert users.authenticate(login[0]) is None


def test_administrators_manage_users_over_rest(app: Any) -> None:
    client, keys, _ = app
    admin = keys["administrator"]
    created = call(client, admin, "POST", "/api/v1/users", {"username": "carol", "roles": ["trader"], "desks": ["RATES"]})
    assert created.status_code == 201, created.text
    key = call(client, admin, "POST", "/api/v1/users/carol/api-keys", {"name": "algo box"}).json()["api_key"]
    assert call(client, key, "GET", "/api/v1/auth/me").json()["accounts"] == ["ACC-FI-1"]  # the desk's accounts
    assert call(client, admin, "POST", "/api/v1/users", {"username": "carol", "roles": ["trader"]}).status_code == 409
    assert call(client, admin, "POST", "/api/v1/users", {"username": "dave", "roles": ["boss"]}).status_code == 422
    weak = call(client, admin, "POST", "/api/v1/users/carol/password", {"password": "short"})
    assert weak.status_code == 422 and "12 characters" in weak.json()["error"]["message"]
    changes = call(client, admin, "GET", "/api/v1/users/changes").json()["changes"]
    assert any(c["username"] == "carol" and c["actor"] == "administrator" for c in changes)
