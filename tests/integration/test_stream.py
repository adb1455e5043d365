"""The WebSocket stream: a snapshot then numbered deltas, filtered by entitlement; a client that
reconnects resumes from its last number and gets exactly what it missed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openoms.api.rest import create_app
from openoms.bootstrap import build
from openoms.service.stream_hub import Subscription, Update
from stores import Store

Message = dict[str, Any]


def make_client(store: Store, **settings: Any) -> tuple[TestClient, dict[str, str]]:
    users = store.users()
    users.create("leaver", ["trader"], ["ACC-EQ-1"])
    users.create("eq1", ["trader"], ["ACC-EQ-1"])
    users.create("boss", ["administrator"], ["*"])
    keys = {name: users.issue_api_key(name, "stream", actor="test") for name in ("eq1", "boss", "leaver")}
    oms = build(store.config(market_data_interval_ms=50, gc_threshold=0, gil_switch_interval_us=0, **settings))
    return TestClient(create_app(oms, manage_lifecycle=True), raise_server_exceptions=False), keys


@pytest.fixture
def client(store: Store) -> Iterator[tuple[TestClient, dict[str, str]]]:
    test_client, keys = make_client(store)
    with test_client:
        yield test_client, keys


def post_order(client: TestClient, key: str, **fields: Any) -> Message:
    body = {"account": "ACC-EQ-1", "symbol": "AAPL", "side": "buy", "quantity": "10", "price": "200.00", **fields}
    response = client.post("/api/v1/orders", json=body, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 201, response.text
    return dict(response.json()["order"])


def marketable_price(client: TestClient, key: str) -> str:
    quote = client.get("/api/v1/marketdata/AAPL", headers={"Authorization": f"Bearer {key}"}).json()
    return str(quote["ask"])


def until(ws: Any, done: Callable[[list[Message]], bool], limit: int = 100) -> list[Message]:
    """Numbered updates until ``done`` holds (quotes, which come twice a second, bound the wait)."""
    numbered: list[Message] = []
    for _ in range(limit):
        frame = ws.receive_json()
        for message in frame if isinstance(frame, list) else [frame]:  # waiting messages come as one array
            if "seq" in message and "prev" in message:
                numbered.append(message)
                if done(numbered):
                    return numbered
    raise AssertionError(f"never done; got {numbered}")


def filled(order_id: str) -> Callable[[list[Message]], bool]:
    return lambda ms: any(m["type"] == "order" and m["order"]["order_id"] == order_id and m["order"]["status"] == "filled" for m in ms)


def test_snapshot_then_numbered_updates_of_orders_executions_and_positions(client: Any) -> None:
    test_client, keys = client
    before = post_order(test_client, keys["eq1"], cl_ord_id="BEFORE")
    with test_client.websocket_connect("/api/v1/stream") as ws:
        ws.send_json({"type": "subscribe", "token": keys["eq1"]})
        snapshot = ws.receive_json()
        assert snapshot["type"] == "snapshot" and [o["order_id"] for o in snapshot["orders"]] == [before["order_id"]]
        placed = post_order(test_client, keys["eq1"], price=marketable_price(test_client, keys["eq1"]), cl_ord_id="FILLS")
        updates = until(ws, lambda ms: filled(placed["order_id"])(ms) and any(m["type"] == "position" for m in ms))
    # Dense for this subscriber: each update names the one before it, starting from the snapshot.
    assert [m["prev"] for m in updates] == [snapshot["seq"]] + [m["seq"] for m in updates[:-1]]
    assert [m["seq"] for m in updates] == sorted({m["seq"] for m in updates})
    kinds = {m["type"] for m in updates}
    assert {"order", "execution", "position"} <= kinds
    execution = next(m["execution"] for m in updates if m["type"] == "execution")
    assert (execution["order_id"], execution["quantity"]) == (placed["order_id"], "10")
    position = [m["position"] for m in updates if m["type"] == "position"][-1]
    rest = test_client.get("/api/v1/positions", headers={"Authorization": f"Bearer {keys['eq1']}"}).json()["positions"]
    assert position["quantity"] == next(p["quantity"] for p in rest if p["symbol"] == "AAPL") == "10"


def test_a_client_sees_only_updates_of_its_accounts(client: Any) -> None:
    test_client, keys = client
    with test_client.websocket_connect("/api/v1/stream") as ws:
        ws.send_json({"type": "subscribe", "token": keys["eq1"]})
        ws.receive_json()
        post_order(test_client, keys["boss"], account="ACC-EQ-2", cl_ord_id="OTHER")
        mine = post_order(test_client, keys["eq1"], cl_ord_id="MINE")
        updates = until(ws, lambda ms: any(m["type"] == "order" and m["order"]["order_id"] == mine["order_id"] for m in ms))
    assert {m["order"]["account"] for m in updates if m["type"] == "order"} == {"ACC-EQ-1"}


def test_reconnect_resumes_with_exactly_the_updates_missed(client: Any) -> None:
    test_client, keys = client
    with test_client.websocket_connect("/api/v1/stream") as watcher, test_client.websocket_connect("/api/v1/stream") as ws:
        watcher.send_json({"type": "subscribe", "token": keys["eq1"]})
        ws.send_json({"type": "subscribe", "token": keys["eq1"]})
        base = watcher.receive_json()
        first = ws.receive_json()
        assert first["seq"] == base["seq"]
        held = first["seq"]
        ws.close()
        placed = [post_order(test_client, keys["eq1"], cl_ord_id=f"GONE-{n}") for n in range(3)]
        seen = until(watcher, lambda ms: {o["order_id"] for o in placed} <= {m["order"]["order_id"] for m in ms if m["type"] == "order"}
                     and any(m["order"]["status"] == "new" for m in ms if m["type"] == "order" and m["order"]["order_id"] == placed[-1]["order_id"]))
    with test_client.websocket_connect("/api/v1/stream") as again:
        again.send_json({"type": "subscribe", "token": keys["eq1"], "resume": {"epoch": first["epoch"], "seq": held}})
        assert again.receive_json() == {"type": "resumed", "epoch": first["epoch"], "seq": held}
        replayed = until(again, lambda ms: ms[-1]["seq"] >= seen[-1]["seq"])
    assert replayed[: len(seen)] == seen  # the same updates, numbers and links as a client that never left


def test_a_resume_the_server_cannot_serve_gets_a_snapshot(store: Store) -> None:
    test_client, keys = make_client(store, stream_buffer=2)
    with test_client:
        with test_client.websocket_connect("/api/v1/stream") as ws:
            ws.send_json({"type": "subscribe", "token": keys["eq1"]})
            epoch = ws.receive_json()["epoch"]
        for n in range(3):
            post_order(test_client, keys["eq1"], cl_ord_id=f"OLD-{n}")
        for resume in ({"epoch": "another-run", "seq": 1}, {"epoch": epoch, "seq": 0}):
            with test_client.websocket_connect("/api/v1/stream") as ws:
                ws.send_json({"type": "subscribe", "token": keys["eq1"], "resume": resume})
                answer = ws.receive_json()
            assert answer["type"] == "snapshot" and len(answer["orders"]) == 3, resume


def test_a_slow_consumer_is_cut_off_not_silently_skipped() -> None:
    subscription = Subscription("u", None, max_pending=2)
    for seq in (1, 2, 3):
        subscription.push(Update(seq, "ACC", None, '"type":"order"}'))
    assert subscription.overflowed and len(subscription.pending) == 2  # the pump closes with SLOW_CONSUMER


@pytest.mark.parametrize("first", ['{"type": "hello"}', "not json", '{"token": "x"}'])
def test_a_bad_first_message_is_answered_and_closed(client: Any, first: str) -> None:
    test_client, _ = client
    with test_client.websocket_connect("/api/v1/stream") as ws:
        ws.send_text(first)
        assert ws.receive_json()["code"] == "BAD_SUBSCRIBE"


@pytest.mark.parametrize("change", ["disable", "regrant"])
def test_a_subscriber_disabled_or_regranted_while_connected_is_told_and_closed(store: Store, change: str) -> None:
    test_client, keys = make_client(store)
    with test_client, test_client.websocket_connect("/api/v1/stream") as ws:
        ws.send_json({"type": "subscribe", "token": keys["leaver"]})
        assert ws.receive_json()["type"] == "snapshot"
        users = store.users()  # as `oms users` would, from another connection (or another gateway process)
        if change == "disable":
            users.update("leaver", "test", disabled=True)
        else:
            users.update("leaver", "test", accounts=["ACC-EQ-2"])
        expected = "SESSION_ENDED" if change == "disable" else "ENTITLEMENTS_CHANGED"
        for _ in range(40):  # quotes come twice a second; the check runs every two seconds
            frame = ws.receive_json()
            message = frame[-1] if isinstance(frame, list) else frame
            if message["type"] == "error":
                assert message["code"] == expected
                return
        raise AssertionError("the stream went on for a user who changed")


def test_execution_algorithms_stream_with_their_children_and_come_back_in_a_snapshot(client: Any) -> None:
    test_client, keys = client
    auth = {"Authorization": f"Bearer {keys['eq1']}"}
    bid = Decimal(test_client.get("/api/v1/marketdata/AAPL", headers=auth).json()["bid"])
    end = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    with test_client.websocket_connect("/api/v1/stream") as ws:
        ws.send_json({"type": "subscribe", "token": keys["eq1"]})
        assert ws.receive_json()["algos"] == []
        started = test_client.post("/api/v1/algos", headers=auth, json={
            "account": "ACC-EQ-1", "symbol": "AAPL", "side": "buy", "quantity": "1000", "kind": "twap",
            "limit_price": str((bid * Decimal("0.95")).quantize(Decimal("0.01"))), "end_at": end})
        assert started.status_code == 201, started.text
        algo_id = started.json()["algo"]["algo_id"]
        updates = until(ws, lambda ms: any(m["type"] == "order" and m["order"]["parent_id"] == algo_id for m in ms)
                        and any(m["type"] == "algo" for m in ms))
        algos = [m["algo"] for m in updates if m["type"] == "algo"]
        assert algos and algos[0]["algo_id"] == algo_id and algos[0]["status"] == "working" and algos[0]["kind"] == "twap"
        assert test_client.post(f"/api/v1/algos/{algo_id}/pause", headers=auth, json={"reason": "lunch"}).status_code == 200
        paused = until(ws, lambda ms: any(m["type"] == "algo" and m["algo"]["status"] == "paused" for m in ms))
        last = [m["algo"] for m in paused if m["type"] == "algo"][-1]
        assert last["reason"] == "lunch" and last["child_ids"]
    with test_client.websocket_connect("/api/v1/stream") as ws:
        ws.send_json({"type": "subscribe", "token": keys["boss"]})
        snapshot = ws.receive_json()
    assert [(a["algo_id"], a["status"]) for a in snapshot["algos"]] == [(algo_id, "paused")]
    children = [o for o in snapshot["orders"] if o["parent_id"] == algo_id]
    assert children and {o["order_id"] for o in children} == set(last["child_ids"])


def test_limit_usage_comes_live_for_the_accounts_a_subscriber_sees(client: Any) -> None:
    test_client, keys = client
    with test_client.websocket_connect("/api/v1/stream") as eq1, test_client.websocket_connect("/api/v1/stream") as boss:
        eq1.send_json({"type": "subscribe", "token": keys["eq1"]})
        boss.send_json({"type": "subscribe", "token": keys["boss"]})
        eq1.receive_json(), boss.receive_json()
        post_order(test_client, keys["eq1"], price=marketable_price(test_client, keys["eq1"]), cl_ord_id="USAGE-1")
        admin = {"Authorization": f"Bearer {keys['boss']}"}
        placed = test_client.post("/api/v1/orders", headers=admin, json={
            "account": "ACC-EQ-2", "symbol": "AAPL", "side": "buy", "quantity": "5", "price": "200.00"})
        assert placed.status_code == 201, placed.text

        def usage(ws: Any, wanted: set[str]) -> dict[str, Message]:
            seen: dict[str, Message] = {}
            for _ in range(200):
                frame = ws.receive_json()
                for message in frame if isinstance(frame, list) else [frame]:
                    if message["type"] == "usage":
                        seen.update({row["account"]: row for row in message["accounts"]})
                if wanted <= set(seen):
                    return seen
            raise AssertionError(f"no usage of {wanted}; got {sorted(seen)}")

        everyone = usage(boss, {"ACC-EQ-1", "ACC-EQ-2"})
        assert Decimal(everyone["ACC-EQ-2"]["credit_limit"]["used"]) == Decimal("1000.00")  # 5 x 200.00 working
        mine = usage(eq1, {"ACC-EQ-1"})  # the same ticks, as this subscriber got them
        assert Decimal(mine["ACC-EQ-1"]["credit_limit"]["used"]) > 0  # the filled buy counts
    assert set(mine) == {"ACC-EQ-1"}  # never another account's figures
