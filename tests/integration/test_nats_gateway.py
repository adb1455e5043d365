"""The cluster roles as real processes on the local NATS JetStream: two engine shards, the
projector and a gateway (`oms serve --role ...`). Orders go in over the gateway's REST API with
users signed in by API key; each account's orders are handled by the shard that owns it; shard 1
is killed (-9) in the middle of a burst and restarted, the projector is killed and restarted
while orders flow; at the end every order is journaled once on its shard, every caller had its
answer, and the gateway's reads (list, one order, executions, positions) show each order once
with its shard's state. Cancel and replace through the gateway reach the owning shard."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import nats
import pytest

from openoms.access.users import UserStore
from openoms.cluster.partition import Subjects, shard_of
from openoms.domain import events as ev
from openoms.journal.sqlite import SqliteJournal

OMS = [sys.executable, "-m", "openoms", "serve"]
NO_MARKET_LIMITS = Path(__file__).resolve().parents[1] / "limits_without_collar.toml"  # no price collar
ON_SHARD_0, ON_SHARD_1 = "ACC-EQ-1", "ACC-EQ-2"


class Process:
    def __init__(self, name: str, args: list[str], root: Path) -> None:
        self.name, self.args, self.log = name, args, root / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([*OMS, *self.args], stdout=log, stderr=subprocess.STDOUT,
                                         env={**os.environ, "OMS_LIMITS_FILE": str(NO_MARKET_LIMITS)})
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)


async def delete_streams(url: str, subjects: Subjects) -> None:
    connection = await nats.connect(url)
    try:
        for stream in (subjects.command_stream, subjects.event_stream):
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await connection.jetstream().delete_stream(stream)
    finally:
        await connection.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def journaled(data_dir: Path) -> list[tuple[str, str]]:
    journal = SqliteJournal(data_dir / "journal.sqlite")
    try:
        return [(e.account, e.cl_ord_id) for e in journal.events() if isinstance(e, ev.OrderAccepted)]
    finally:
        journal.close()


@pytest.mark.parametrize("read_models_on", ["sqlite", "postgresql"])
def test_gateway_projector_and_two_shards_with_a_shard_and_the_projector_restarted(
        tmp_path: Path, nats_url: str, read_models_on: str, request: pytest.FixtureRequest) -> None:
    subjects = Subjects(f"t{secrets.token_hex(4)}")
    cluster = ["--nats-url", nats_url, "--prefix", subjects.prefix]
    gateway_dir = tmp_path / "gateway"
    read_models = (str(request.getfixturevalue("pg_url")) if read_models_on == "postgresql"
                   else str(tmp_path / "projector" / "read_models.sqlite"))
    users = UserStore(gateway_dir / "users.sqlite")
    users.create("alice", ["trader"], [ON_SHARD_0, ON_SHARD_1])  # not a trader of the demo reference data
    users.create("bob", ["trader"], [ON_SHARD_0])
    users.create("rita", ["risk_officer"])
    keys = {name: users.issue_api_key(name, "test", actor="test") for name in ("alice", "bob", "rita")}
    users.close()
    port = free_port()
    shards = [Process(f"shard{n}", ["--role", "engine", "--shard", f"{n}/2", "--data-dir", str(tmp_path / f"shard{n}"),
                                    *cluster], tmp_path) for n in (0, 1)]
    projector = Process("projector", ["--role", "projector", "--read-models", read_models, *cluster], tmp_path)
    gateway = Process("gateway", ["--role", "gateway", "--shards", "2", "--data-dir", str(gateway_dir), "--read-models",
                                  read_models, "--port", str(port), "--answer-timeout", "60", *cluster], tmp_path)
    processes = [*shards, projector, gateway]
    for process in processes:
        process.start()
    sent: list[tuple[str, str]] = []
    answered_ids: list[str] = []

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/health")).status_code == 200:
                        break
                assert time.monotonic() < deadline, gateway.log.read_text()
                await asyncio.sleep(0.1)

            async def order(user: str, account: str, cl_ord_id: str, price: str = "1.00") -> httpx.Response:
                if user == "alice":
                    sent.append((account, cl_ord_id))
                response = await http.post("/api/v1/orders", headers={"Authorization": f"Bearer {keys[user]}"},
                                       json={"account": account, "cl_ord_id": cl_ord_id, "symbol": "AAPL", "side": "buy",
                                             "quantity": "10", "price": price})
                if response.status_code == 201:
                    answered_ids.append(response.json()["order"]["order_id"])
                return response

            # Both shards up: each account's orders are handled by the shard that owns it.
            first = await asyncio.gather(*(order("alice", account, f"{account}-A{i}") for i in range(8)
                                           for account in (ON_SHARD_0, ON_SHARD_1)))
            for response in first:
                assert response.status_code == 201, response.text
                body = response.json()
                assert body["shard"] == shard_of(body["order"]["account"], 2)
                assert body["order"]["order_id"].startswith(f"S{body['shard']}-O")
            # Marketable orders fill at the simulated venue (market data is on in the shards).
            for account in (ON_SHARD_0, ON_SHARD_1):
                for i in range(2):
                    filled = await order("alice", account, f"{account}-F{i}", price="100000")
                    assert filled.status_code == 201, filled.text
            # The shard judges with the user the gateway authenticated: bob does not trade ACC-EQ-2.
            refused = await order("bob", ON_SHARD_1, "BOB-1")
            assert refused.status_code == 403, refused.text

            # The projector is killed; orders go on (the event stream keeps them for it).
            projector.kill()
            # A burst to shard 1, which is killed at once, more for it while it is down, then restarted.
            burst = [asyncio.ensure_future(order("alice", ON_SHARD_1, f"{ON_SHARD_1}-B{i}")) for i in range(30)]
            await asyncio.sleep(0.05)
            shards[1].kill()
            late = [asyncio.ensure_future(order("alice", ON_SHARD_1, f"{ON_SHARD_1}-L{i}")) for i in range(5)]
            during = await asyncio.gather(*(order("alice", ON_SHARD_0, f"{ON_SHARD_0}-C{i}") for i in range(5)))
            assert [r.status_code for r in during] == [201] * 5
            # The gateway's /health says shard 1 is not taking commands and that they wait for it.
            deadline = time.monotonic() + 10
            while True:
                down = (await http.get("/health")).json()["shards"]["1"]
                if not down["consuming"] and down["commands_waiting"] >= 5:
                    break
                assert time.monotonic() < deadline, down
                await asyncio.sleep(0.1)
            shards[1].start()
            projector.start()
            answered = await asyncio.gather(*burst, *late)
            assert [r.status_code for r in answered] == [201] * 35, [r.text for r in answered if r.status_code != 201]
            assert {r.json()["shard"] for r in answered} == {1}
            assert len({r.json()["order"]["order_id"] for r in answered}) == 35

            # Cancel and replace through the gateway reach the owning shard (by the cluster order id).
            alice = {"Authorization": f"Bearer {keys['alice']}"}
            cancel_0, cancel_1 = first[0].json()["order"]["order_id"], answered[0].json()["order"]["order_id"]
            replaced = answered[-1].json()["order"]["order_id"]
            for order_id, shard in ((cancel_0, 0), (cancel_1, 1)):
                response = await http.post(f"/api/v1/orders/{order_id}/cancel", headers=alice)
                assert response.status_code == 202, response.text
                assert response.json()["shard"] == shard and response.json()["order"]["status"] == "pending_cancel"
            response = await http.post(f"/api/v1/orders/{replaced}/replace", headers=alice, json={"quantity": "7"})
            assert response.status_code == 202 and response.json()["shard"] == 1, response.text
            unknown = await http.post("/api/v1/orders/S1-O999999/cancel", headers=alice)
            assert unknown.status_code == 404

            # The gateway's reads: every order once, in its shard's final state.
            expected = {cancel_0: "canceled", cancel_1: "canceled"}
            deadline = time.monotonic() + 20
            while True:
                listed = (await http.get("/api/v1/orders", params={"limit": 10_000}, headers=alice)).json()["orders"]
                states = {o["order_id"]: o for o in listed}
                if (len(listed) == len(sent) and all(states.get(k, {}).get("status") == v for k, v in expected.items())
                        and states.get(replaced, {}).get("quantity") == "7"):
                    break
                assert time.monotonic() < deadline, f"projected {len(listed)} of {len(sent)} orders"
                await asyncio.sleep(0.2)
            assert sorted(o["order_id"] for o in listed) == sorted(answered_ids)
            assert len(answered_ids) == len(sent)
            assert all(o["order_id"].startswith(f"S{shard_of(o['account'], 2)}-") for o in listed)
            history = (await http.get(f"/api/v1/orders/{cancel_1}", headers=alice)).json()
            assert [e["type"] for e in history["events"]][:1] == ["OrderAccepted"]
            assert "CancelRequested" in [e["type"] for e in history["events"]]
            deadline = time.monotonic() + 20
            while True:
                executions = (await http.get("/api/v1/executions", headers=alice)).json()["executions"]
                positions = (await http.get("/api/v1/positions", headers=alice)).json()["positions"]
                if sum(int(x["quantity"]) for x in executions) == 40 and len(positions) == 2:
                    break
                assert time.monotonic() < deadline, (executions, positions)
                await asyncio.sleep(0.2)
            assert {(p["account"], p["quantity"]) for p in positions} == {(ON_SHARD_0, "20"), (ON_SHARD_1, "20")}
            assert {states[x["order_id"]]["cl_ord_id"][-2:] for x in executions} == {"F0", "F1"}
            instruments = (await http.get("/api/v1/instruments", headers=alice)).json()["instruments"]
            assert "AAPL" in {i["symbol"] for i in instruments}
            accounts = (await http.get("/api/v1/accounts", headers=alice)).json()["accounts"]
            assert {ON_SHARD_0, ON_SHARD_1} <= {a["account"] for a in accounts}
            # /health: both shards taking commands, none waiting, the projector caught up.
            deadline = time.monotonic() + 20
            while True:
                shard_health = (await http.get("/health")).json()["shards"]
                if all(h["projector_lag_events"] == 0 for h in shard_health.values()):
                    break
                assert time.monotonic() < deadline, shard_health
                await asyncio.sleep(0.2)
            assert {n: (h["consuming"], h["commands_waiting"]) for n, h in shard_health.items()} == {"0": (True, 0), "1": (True, 0)}
            assert all(h["journaled_seq"] > 0 for h in shard_health.values())
            # Bob sees only his account, and not alice's orders on ACC-EQ-2 even by id.
            bob = {"Authorization": f"Bearer {keys['bob']}"}
            assert {o["account"] for o in (await http.get("/api/v1/orders", headers=bob)).json()["orders"]} == {ON_SHARD_0}
            assert (await http.get(f"/api/v1/orders/{cancel_1}", headers=bob)).status_code == 404
            assert (await http.post(f"/api/v1/orders/{cancel_0}/cancel", headers={"Authorization": "Bearer nope"})).status_code == 401

            # A kill switch goes to every shard: the owning shard cancels the account's working
            # orders and refuses new ones; the other shards' accounts trade on; released, it is gone.
            rita = {"Authorization": f"Bearer {keys['rita']}"}
            switch = {"scope": f"account:{ON_SHARD_1}", "reason": "test"}
            assert (await http.post("/api/v1/risk/kill-switch", headers=alice, json=switch)).status_code == 403
            engaged = await http.post("/api/v1/risk/kill-switch", headers=rita, json=switch)
            assert engaged.status_code == 202, engaged.text
            working = {o["order_id"] for o in listed if o["account"] == ON_SHARD_1 and o["status"] in ("new", "pending_new")}
            assert set(engaged.json()["canceling"]) == working and working
            body = {"account": ON_SHARD_1, "symbol": "AAPL", "side": "buy", "quantity": "10", "price": "1.00"}
            stopped = await http.post("/api/v1/orders", headers=alice, json=body)
            assert (stopped.status_code, stopped.json()["error"]["code"]) == (403, "KILL_SWITCH")
            assert (await order("alice", ON_SHARD_0, f"{ON_SHARD_0}-K1")).status_code == 201
            released = await http.post("/api/v1/risk/kill-switch/release", headers=rita, json=switch)
            assert released.status_code == 200, released.text
            assert (await order("alice", ON_SHARD_1, f"{ON_SHARD_1}-K2")).status_code == 201

    try:
        asyncio.run(scenario())
        assert [process.stop() for process in processes] == [0, 0, 0, 0]
    finally:
        for process in processes:
            if process.proc is not None and process.proc.poll() is None:
                process.kill()
        asyncio.run(delete_streams(nats_url, subjects))
    on_shard = [journaled(tmp_path / f"shard{n}") for n in (0, 1)]
    for number, accepted in enumerate(on_shard):
        assert len(accepted) == len(set(accepted)), f"shard {number} accepted an order twice"
        assert {shard_of(account, 2) for account, _ in accepted} == {number}
    assert sorted(on_shard[0] + on_shard[1]) == sorted(sent)




@pytest.mark.parametrize(("args", "problem"), [
    (["--role", "gateway", "--nats-url", "nats://127.0.0.1:1"], "--role gateway needs --shards M"),
    (["--role", "engine", "--nats-url", "nats://127.0.0.1:1"], "--role engine needs --shard N/M"),
    (["--role", "engine", "--shard", "2/2", "--nats-url", "nats://127.0.0.1:1"], "shard must be N/M with 0 <= N < M"),
    (["--role", "projector"], "--role projector needs --nats-url or OMS_NATS_URL"),
    (["--role", "router"], "--role must be one of single, engine, gateway, projector"),
])
def test_a_role_without_what_it_needs_is_refused_before_anything_starts(tmp_path: Path, args: list[str], problem: str) -> None:
    from typer.testing import CliRunner

    from openoms.cli import app

    result = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path), *args], env={"OMS_NATS_URL": None})
    assert result.exit_code == 2
    assert problem in " ".join(result.output.split())
    assert not any(tmp_path.iterdir())  # nothing opened, nothing created
