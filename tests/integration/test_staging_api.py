"""Staged orders over REST and the stream, with real sign-in: a portfolio manager stages, a
trader picks up and releases (an ordinary order, every check), roles and accounts are enforced,
and the journal rebuilds it all after a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from openoms.access.users import UserStore
from openoms.api.rest import create_app
from openoms.bootstrap import build
from openoms.config import Config


def call(client: TestClient, key: str, method: str, path: str, body: Any = None) -> Any:
    return client.request(method, path, json=body, headers={"Authorization": f"Bearer {key}"})


PRICE = "215.00"  # under the demo AAPL market (about 230), inside the 10 % collar: the order rests


def staged_order(**fields: Any) -> dict[str, Any]:
    return {"account": "ACC-EQ-1", "symbol": "AAPL", "side": "buy", "quantity": "300", "price": PRICE, **fields}


def test_a_pm_stages_a_trader_picks_up_and_releases_and_the_journal_keeps_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    users = UserStore(data / "users.sqlite")
    users.create("pm", ["portfolio_manager"], ["ACC-EQ-1"])
    users.create("tina", ["trader"], ["ACC-EQ-1"])
    users.create("tom", ["trader"], ["ACC-EQ-1"])
    users.create("eq2", ["trader"], ["ACC-EQ-2"])
    key = {name: users.issue_api_key(name, "staging", actor="test") for name in ("pm", "tina", "tom", "eq2")}
    oms = build(Config(data_dir=data, market_data_interval_ms=50, gc_threshold=0, gil_switch_interval_us=0))
    with TestClient(create_app(oms, manage_lifecycle=True), raise_server_exceptions=False) as client:
        # Staging: the PM's accounts only, checked like an order's shape (lot, tick), journaled when refused.
        made = call(client, key["pm"], "POST", "/api/v1/staged", staged_order(for_trader="tina", note="rebalance"))
        assert made.status_code == 201, made.text
        staged = made.json()["staged"]
        assert (staged["status"], staged["staged_by"], staged["for_trader"], staged["note"]) == ("staged", "pm", "tina", "rebalance")
        sid = staged["staged_id"]
        other = call(client, key["pm"], "POST", "/api/v1/staged", staged_order(account="ACC-EQ-2"))
        assert other.status_code == 403 and other.json()["error"]["code"] == "NOT_ENTITLED"
        off_tick = call(client, key["pm"], "POST", "/api/v1/staged", staged_order(price="215.001"))
        assert off_tick.status_code == 422 and off_tick.json()["error"]["code"] == "TICK_SIZE_VIOLATION"
        assert call(client, key["pm"], "POST", "/api/v1/staged", staged_order(price=None)).json()["error"]["code"] == "INVALID_PRICE"
        # The PM cannot send it; a trader without the account does not see it; tom is not whom it is for.
        assert call(client, key["pm"], "POST", f"/api/v1/staged/{sid}/pick-up").status_code == 403
        assert call(client, key["eq2"], "POST", f"/api/v1/staged/{sid}/pick-up").status_code == 404
        assert call(client, key["eq2"], "GET", "/api/v1/staged").json()["staged"] == []
        not_his = call(client, key["tom"], "POST", f"/api/v1/staged/{sid}/pick-up")
        assert not_his.status_code == 403 and "is for tina" in not_his.json()["error"]["message"]
        early = call(client, key["tina"], "POST", f"/api/v1/staged/{sid}/release")
        assert early.status_code == 409 and early.json()["error"]["code"] == "NOT_PICKED_UP"

        with client.websocket_connect("/api/v1/stream") as ws:
            ws.send_json({"type": "subscribe", "token": key["tina"]})
            snapshot = ws.receive_json()
            assert [(s["staged_id"], s["status"]) for s in snapshot["staged"]] == [(sid, "staged")]
            picked = call(client, key["tina"], "POST", f"/api/v1/staged/{sid}/pick-up")
            assert picked.status_code == 200 and picked.json()["staged"]["status"] == "picked_up", picked.text
            assert picked.json()["staged"]["trader"] == "tina"
            released = call(client, key["tina"], "POST", f"/api/v1/staged/{sid}/release", {"route": ""})
            assert released.status_code == 201, released.text
            seen = []
            while not any(m.get("type") == "staged" and m["staged"]["status"] == "released" for m in seen):
                frame = ws.receive_json()
                seen.extend(frame if isinstance(frame, list) else [frame])
        body = released.json()
        order_id = body["order"]["order_id"]
        assert body["staged"]["status"] == "released" and body["staged"]["order_id"] == order_id
        assert (body["order"]["cl_ord_id"], body["order"]["quantity"], body["order"]["price"]) == (sid, "300", PRICE)
        assert [m["staged"]["status"] for m in seen if m.get("type") == "staged"] == ["picked_up", "released"]
        assert call(client, key["tina"], "POST", f"/api/v1/staged/{sid}/release").status_code == 409  # once only
        assert call(client, key["pm"], "POST", f"/api/v1/staged/{sid}/cancel").json()["error"]["code"] == "TOO_LATE"

        withdrawn = call(client, key["pm"], "POST", "/api/v1/staged", staged_order(quantity="100")).json()["staged"]["staged_id"]
        canceled = call(client, key["pm"], "POST", f"/api/v1/staged/{withdrawn}/cancel", {"reason": "changed my mind"})
        assert canceled.json()["staged"]["status"] == "canceled" and canceled.json()["staged"]["reason"] == "changed my mind"
        assert call(client, key["tom"], "POST", f"/api/v1/staged/{withdrawn}/pick-up").status_code == 409
        # A release the order path refuses (pre-trade risk) leaves it picked up, to change or withdraw.
        big = call(client, key["pm"], "POST", "/api/v1/staged", staged_order(quantity="200000")).json()["staged"]["staged_id"]
        assert call(client, key["tom"], "POST", f"/api/v1/staged/{big}/pick-up").status_code == 200
        refused = call(client, key["tom"], "POST", f"/api/v1/staged/{big}/release")
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "RISK_MAX_NOTIONAL", refused.text
        assert [s["status"] for s in call(client, key["tom"], "GET", "/api/v1/staged").json()["staged"]] == ["picked_up"]
        assert call(client, key["pm"], "POST", f"/api/v1/staged/{big}/cancel").json()["staged"]["status"] == "canceled"
        assert call(client, key["tina"], "GET", "/api/v1/staged").json()["staged"] == []  # open ones only
        everything = call(client, key["tina"], "GET", "/api/v1/staged?all=true").json()["staged"]
        assert [(s["staged_id"], s["status"]) for s in everything] == [(big, "canceled"), (withdrawn, "canceled"), (sid, "released")]
        actions = call(client, key["pm"], "GET", f"/api/v1/audit/orders/{order_id}")
        assert actions.status_code in (200, 403)  # the order's history is the ordinary one (PMs may read it when granted)
    oms.journal.close()

    # Replay: the staging desk is rebuilt from the journal alone.
    again = build(Config(data_dir=data, market_data_interval_ms=50, gc_threshold=0, gil_switch_interval_us=0))
    with TestClient(create_app(again, manage_lifecycle=True), raise_server_exceptions=False) as client:
        after = call(client, key["tina"], "GET", "/api/v1/staged?all=true").json()["staged"]
        assert after == everything
