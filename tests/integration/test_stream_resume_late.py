"""Updates nobody watched are rendered only when a resume asks for them: such an update can
only show its order's state at the resume, so a resumed client gets each order once, as it
is now (durably), with the numbers still linked."""

from __future__ import annotations

import time
from itertools import pairwise
from typing import Any

from test_stream import make_client, post_order, until

from stores import Store


def order_now(client: Any, key: str, order_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/orders/{order_id}", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return dict(response.json()["order"])


def test_a_resume_over_unwatched_updates_gets_each_order_once_as_it_is_now(store: Store) -> None:
    test_client, keys = make_client(store)
    with test_client:
        with test_client.websocket_connect("/api/v1/stream") as ws:
            ws.send_json({"type": "subscribe", "token": keys["eq1"]})
            first = ws.receive_json()
        # No subscriber from here on; the first order is published again when canceled.
        placed = [post_order(test_client, keys["eq1"], cl_ord_id=f"UNSEEN-{n}") for n in range(3)]
        post_order(test_client, keys["boss"], account="ACC-EQ-2", cl_ord_id="NOT-MINE")
        canceled = test_client.post(f"/api/v1/orders/{placed[0]['order_id']}/cancel", headers={"Authorization": f"Bearer {keys['eq1']}"})
        assert canceled.status_code == 202, canceled.text
        deadline = time.monotonic() + 10
        while [order_now(test_client, keys["eq1"], o["order_id"])["status"] for o in placed] != ["canceled", "new", "new"]:
            assert time.monotonic() < deadline, "orders never acknowledged or canceled"
            time.sleep(0.05)
        with test_client.websocket_connect("/api/v1/stream") as again:
            again.send_json({"type": "subscribe", "token": keys["eq1"], "resume": {"epoch": first["epoch"], "seq": first["seq"]}})
            assert again.receive_json() == {"type": "resumed", "epoch": first["epoch"], "seq": first["seq"]}
            wanted = {o["order_id"] for o in placed}
            replayed = until(again, lambda ms: wanted <= {m["order"]["order_id"] for m in ms if m["type"] == "order"})
    orders = [m["order"] for m in replayed if m["type"] == "order"]
    assert sorted(o["order_id"] for o in orders) == sorted(wanted)  # once each, and none of ACC-EQ-2
    assert orders[-1]["status"] == "canceled"  # in the place of its last update
    for order in orders:
        assert order == order_now(test_client, keys["eq1"], order["order_id"])
    # Linked as any stream: each names the one before it, from the number resumed at.
    assert [m["prev"] for m in replayed] == [first["seq"]] + [m["seq"] for m in replayed[:-1]]
    assert all(a["seq"] < b["seq"] for a, b in pairwise(replayed))
