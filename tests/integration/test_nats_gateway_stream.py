"""The live stream through a cluster gateway (`oms serve --role gateway`), with two engine shards
as real processes on the local NATS JetStream and no projector (the stream follows the shards'
events itself). The SDK's stream, signed in by API key, gets a snapshot of the orders already
placed on both shards, then the order, execution and position updates of orders submitted
through the gateway, with cluster order ids; a user entitled to one account sees only that
account; a client that reconnects with its epoch and seq resumes with what it missed; a second
gateway started later reads the shards' history and snapshots the same orders."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_nats_gateway import ON_SHARD_0, ON_SHARD_1, Process, delete_streams, free_port
from websockets.asyncio.client import connect

from openoms.access.users import UserStore
from openoms.client import AsyncOmsClient, StreamMessage, Unauthorized
from openoms.cluster.partition import Subjects


async def wait_healthy(url: str, process: Process) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/health")).status_code == 200:
                    return
            assert time.monotonic() < deadline, process.log.read_text()
            await asyncio.sleep(0.1)


async def collect(stream: Any, into: list[StreamMessage], until: Any) -> None:
    """Messages of ``stream`` into ``into`` until ``until(into)`` holds."""
    async for message in stream:
        into.append(message)
        if until(into):
            return


def orders_of(messages: list[StreamMessage]) -> dict[str, dict[str, Any]]:
    """The latest view of each order: the snapshot's, then the updates'."""
    latest: dict[str, dict[str, Any]] = {}
    for message in messages:
        for order in message.data["orders"] if message.type == "snapshot" else [message.data.get("order")]:
            if order is not None:
                latest[order["order_id"]] = order
    return latest


def test_the_gateway_streams_every_shards_orders_to_the_sdk_filtered_and_resumable(tmp_path: Path, nats_url: str) -> None:
    subjects = Subjects(f"t{secrets.token_hex(4)}")
    cluster = ["--nats-url", nats_url, "--prefix", subjects.prefix]
    gateway_dir = tmp_path / "gateway"
    users = UserStore(gateway_dir / "users.sqlite")
    users.create("alice", ["trader"], [ON_SHARD_0, ON_SHARD_1])
    users.create("bob", ["trader"], [ON_SHARD_0])
    keys = {name: users.issue_api_key(name, "test", actor="test") for name in ("alice", "bob")}
    users.close()
    ports = [free_port(), free_port()]

    def gateway(number: int) -> Process:
        return Process(f"gateway{number}", ["--role", "gateway", "--shards", "2", "--data-dir", str(gateway_dir),
                                            "--read-models", str(tmp_path / "read_models.sqlite"),
                                            "--port", str(ports[number]), *cluster], tmp_path)

    shards = [Process(f"shard{n}", ["--role", "engine", "--shard", f"{n}/2", "--data-dir", str(tmp_path / f"shard{n}"),
                                    *cluster], tmp_path) for n in (0, 1)]
    processes = [*shards, gateway(0)]
    for process in processes:
        process.start()
    url = f"http://127.0.0.1:{ports[0]}"

    async def scenario() -> None:
        await wait_healthy(url, processes[2])
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:

            async def order(account: str, cl_ord_id: str, price: str = "1.00") -> str:
                response = await http.post("/api/v1/orders", headers={"Authorization": f"Bearer {keys['alice']}"},
                                           json={"account": account, "cl_ord_id": cl_ord_id, "symbol": "AAPL", "side": "buy",
                                                 "quantity": "10", "price": price})
                assert response.status_code == 201, response.text
                order_id: str = response.json()["order"]["order_id"]
                return order_id

            before = {account: await order(account, f"{account}-BEFORE") for account in (ON_SHARD_0, ON_SHARD_1)}
            assert before[ON_SHARD_0].startswith("S0-") and before[ON_SHARD_1].startswith("S1-")

            async with AsyncOmsClient(url, token=keys["alice"]) as alice, AsyncOmsClient(url, token=keys["bob"]) as bob:
                alice_seen: list[StreamMessage] = []
                bob_seen: list[StreamMessage] = []
                alice_stream, bob_stream = alice.stream(), bob.stream()
                alice_seen.append(await anext(alice_stream))
                bob_seen.append(await anext(bob_stream))
                # Snapshots: the orders already placed, each user's own accounts only.
                assert alice_seen[0].type == "snapshot" and bob_seen[0].type == "snapshot"
                assert set(orders_of(alice_seen)) >= set(before.values())
                assert {o["account"] for o in orders_of(bob_seen).values()} == {ON_SHARD_0}
                assert before[ON_SHARD_0] in orders_of(bob_seen)

                # Live: a resting order on each shard and a marketable one on shard 1 (it fills).
                resting = [await order(account, f"{account}-LIVE") for account in (ON_SHARD_0, ON_SHARD_1)]
                filled = await order(ON_SHARD_1, f"{ON_SHARD_1}-FILL", price="100000")

                def alice_done(seen: list[StreamMessage]) -> bool:
                    latest = orders_of(seen)
                    return (all(latest.get(o, {}).get("status") == "new" for o in resting)
                            and latest.get(filled, {}).get("status") == "filled"
                            and any(m.type == "position" and m.data["position"]["account"] == ON_SHARD_1 for m in seen))

                await asyncio.wait_for(collect(alice_stream, alice_seen, alice_done), 15)
                executions = [m.data["execution"] for m in alice_seen if m.type == "execution"]
                assert {(x["order_id"], x["quantity"]) for x in executions} == {(filled, "10")}
                position = next(m.data["position"] for m in alice_seen if m.type == "position")
                assert (position["account"], position["symbol"], position["quantity"]) == (ON_SHARD_1, "AAPL", "10")
                seqs = [m.seq for m in alice_seen[1:]]
                assert all(seq is not None for seq in seqs) and seqs == sorted(set(seqs))  # type: ignore[type-var]

                # Bob: the resting order of his account arrives; nothing of ACC-EQ-2, ever.
                await asyncio.wait_for(collect(bob_stream, bob_seen, lambda seen: resting[0] in orders_of(seen)), 15)
                await asyncio.sleep(0.3)  # anything of shard 1 sent to him would have come by now
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(collect(bob_stream, bob_seen, lambda _: False), 0.3)
                assert {o["account"] for o in orders_of(bob_seen).values()} == {ON_SHARD_0}
                assert not [m for m in bob_seen if m.type in ("execution", "position")]
                await alice_stream.aclose()
                await bob_stream.aclose()

            # Resume: a client that held (epoch, seq) and reconnects gets what it missed, numbered on.
            stream_url = f"ws://127.0.0.1:{ports[0]}/api/v1/stream"
            async with connect(stream_url) as socket:
                await socket.send(json.dumps({"type": "subscribe", "token": keys["alice"]}))
                snapshot = json.loads(await socket.recv())
            missed = await order(ON_SHARD_1, f"{ON_SHARD_1}-MISSED")
            async with connect(stream_url) as socket:
                await socket.send(json.dumps({"type": "subscribe", "token": keys["alice"],
                                              "resume": {"epoch": snapshot["epoch"], "seq": snapshot["seq"]}}))
                assert json.loads(await socket.recv()) == {"type": "resumed", "epoch": snapshot["epoch"], "seq": snapshot["seq"]}
                frame = json.loads(await asyncio.wait_for(socket.recv(), 10))
                first = frame[0] if isinstance(frame, list) else frame
                assert (first["type"], first["prev"], first["order"]["order_id"]) == ("order", snapshot["seq"], missed)
                assert first["seq"] > snapshot["seq"]

            # The blotter page is served; what it asks for that only a single `oms serve` has is a
            # clear 501 naming the route, not a bare 404 (a path no server has stays 404).
            assert (await http.get("/blotter")).status_code == 200
            assert (await http.get("/blotter/static/app.js")).status_code == 200
            alice_auth = {"Authorization": f"Bearer {keys['alice']}"}
            for method, path, route in (("GET", "/api/v1/venues", "GET /api/v1/venues"),
                                        ("GET", f"/api/v1/audit/orders/{missed}", "GET /api/v1/audit/orders/{order_id}"),
                                        ("POST", "/api/v1/algos/A1/pause", "POST /api/v1/algos/{algo_id}/pause")):
                response = await http.request(method, path, headers=alice_auth)
                assert response.status_code == 501, response.text
                assert response.json()["error"]["code"] == "NOT_IN_CLUSTER" and response.json()["error"]["detail"] == {"route": route}
            assert (await http.get("/api/v1/venues")).status_code == 401  # signed in first, as everywhere
            assert (await http.get("/api/v1/no-such-thing", headers=alice_auth)).status_code == 404
            stream_health = (await http.get("/health")).json()["stream"]
            assert stream_health["serving"] and stream_health["failure"] is None and stream_health["stream_seq"] > 0

        async with AsyncOmsClient(url, token="oms_not_a_key") as stranger:
            with pytest.raises(Unauthorized, match="UNAUTHENTICATED"):
                await anext(stranger.stream())

        # A gateway started now reads the shards' history before it serves: the same orders, its own epoch.
        late = gateway(1).start()
        processes.append(late)
        await wait_healthy(f"http://127.0.0.1:{ports[1]}", late)
        async with AsyncOmsClient(f"http://127.0.0.1:{ports[1]}", token=keys["alice"]) as alice:
            stream = alice.stream()
            replayed = await anext(stream)
            await stream.aclose()
        assert replayed.type == "snapshot" and replayed.data["epoch"] != snapshot["epoch"]
        assert set(orders_of([replayed])) == {*before.values(), *resting, filled, missed}
        assert orders_of([replayed])[filled]["status"] == "filled"
        assert [(p["account"], p["quantity"]) for p in replayed.data["positions"]] == [(ON_SHARD_1, "10")]

    try:
        asyncio.run(scenario())
        assert [process.stop() for process in processes] == [0] * len(processes)
    finally:
        for process in processes:
            if process.proc is not None and process.proc.poll() is None:
                process.kill()
        asyncio.run(delete_streams(nats_url, subjects))
