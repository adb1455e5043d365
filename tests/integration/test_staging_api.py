"""Staged orders over REST and the stream, with real sign-in: a portfolio manager stages, a
trader picks up and releases (an ordinary order, every check), roles and accounts are enforced,
and the journal rebuilds it all after a restart."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from openoms.access.users import UserStore
from openoms.api.rest import create_app
from openoms.bootstrap import build
from openoms.config import Config
from openoms.domain import commands as cmd
from openoms.domain.ids import AccountId, ClientOrderId, Symbol
from openoms.domain.values import Side


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
        assert actions.status_code == 200, actions.text  # the order's history is the ordinary one; a PM reads its accounts'
        assert order_id in actions.text
    oms.journal.close()

    # Replay: the staging desk is rebuilt from the journal alone.
    again = build(Config(data_dir=data, market_data_interval_ms=50, gc_threshold=0, gil_switch_interval_us=0))
    with TestClient(create_app(again, manage_lifecycle=True), raise_server_exceptions=False) as client:
        after = call(client, key["tina"], "GET", "/api/v1/staged?all=true").json()["staged"]
        assert after == everything


def test_an_order_with_a_staged_id_for_its_clordid_is_refused_unless_it_is_the_release(tmp_path: Path) -> None:
    data = tmp_path / "data"
    users = UserStore(data / "users.sqlite")
    users.create("pm", ["portfolio_manager"], ["ACC-EQ-1"])
    users.create("tina", ["trader"], ["ACC-EQ-1"])
    users.create("tom", ["trader"], ["ACC-EQ-1"])
    key = {name: users.issue_api_key(name, "staging", actor="test") for name in ("pm", "tina", "tom")}
    oms = build(Config(data_dir=data, market_data_interval_ms=50, gc_threshold=0, gil_switch_interval_us=0))
    with TestClient(create_app(oms, manage_lifecycle=True), raise_server_exceptions=False) as client:
        sid = call(client, key["pm"], "POST", "/api/v1/staged", staged_order(for_trader="tina")).json()["staged"]["staged_id"]
        # tom is not whom it is for: an ordinary order with the staged id is no release, and is refused.
        plain = {"account": "ACC-EQ-1", "symbol": "AAPL", "side": "buy", "quantity": "1", "price": "214.00", "cl_ord_id": sid}
        impostor = call(client, key["tom"], "POST", "/api/v1/orders", plain)
        assert impostor.status_code == 403 and impostor.json()["error"]["code"] == "NOT_PERMITTED", impostor.text
        assert "not picked up" in impostor.json()["error"]["message"]
        assert call(client, key["tom"], "GET", "/api/v1/staged").json()["staged"][0]["status"] == "staged"
        assert call(client, key["tina"], "POST", f"/api/v1/staged/{sid}/pick-up").status_code == 200
        # Picked up by tina: tom still may not use the id, and tina's own order must carry the staged terms.
        assert call(client, key["tom"], "POST", "/api/v1/orders", plain).json()["error"]["code"] == "NOT_PERMITTED"
        other_terms = call(client, key["tina"], "POST", "/api/v1/orders", plain)
        assert other_terms.status_code == 422 and other_terms.json()["error"]["code"] == "INVALID_CL_ORD_ID", other_terms.text
        assert other_terms.json()["error"]["detail"]["field"] == "quantity"
        released = call(client, key["tina"], "POST", f"/api/v1/staged/{sid}/release")
        assert released.status_code == 201, released.text
        assert released.json()["staged"]["status"] == "released" and released.json()["staged"]["trader"] == "tina"
        assert released.json()["order"]["quantity"] == "300"
    oms.journal.close()


def test_a_release_decided_after_a_withdrawal_is_refused_by_the_engine(tmp_path: Path) -> None:
    """The REST release checks "picked up by you" early; a withdrawal decided between that check
    and the release's SubmitOrder must still keep the order off the market: the engine decides it."""
    data = tmp_path / "data"
    users = UserStore(data / "users.sqlite")
    users.create("pm", ["portfolio_manager"], ["ACC-EQ-1"])
    users.create("tina", ["trader"], ["ACC-EQ-1"])
    key = {name: users.issue_api_key(name, "staging", actor="test") for name in ("pm", "tina")}
    oms = build(Config(data_dir=data, market_data_interval_ms=50, gc_threshold=0, gil_switch_interval_us=0))
    with TestClient(create_app(oms, manage_lifecycle=True), raise_server_exceptions=False) as client:
        sid = call(client, key["pm"], "POST", "/api/v1/staged", staged_order(for_trader="tina")).json()["staged"]["staged_id"]
        assert call(client, key["tina"], "POST", f"/api/v1/staged/{sid}/pick-up").status_code == 200
        assert call(client, key["pm"], "POST", f"/api/v1/staged/{sid}/cancel").status_code == 200  # queued before the release
        # The release's own command, as the handler sends it after its early check passed.
        release = cmd.SubmitOrder(actor=cmd.Actor("tina", "rest"), account=AccountId("ACC-EQ-1"), cl_ord_id=ClientOrderId(sid),
                                  symbol=Symbol("AAPL"), side=Side.BUY, quantity=Decimal("300"), price=Decimal(PRICE))
        assert client.portal is not None
        outcome = client.portal.call(oms.runtime.execute, release)
        assert outcome.rejected is not None, outcome
        assert outcome.rejected.code.value == "NOT_PERMITTED" and "it is canceled" in outcome.rejected.message
        assert call(client, key["tina"], "GET", "/api/v1/orders").json()["orders"] == []
        assert call(client, key["tina"], "GET", "/api/v1/staged?all=true").json()["staged"][0]["status"] == "canceled"
    oms.journal.close()
