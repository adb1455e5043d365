"""The Python SDK through a cluster gateway (`oms serve --role gateway`) with two engine shards as
real processes on the local NATS JetStream: submit, replace and cancel answer the same OrderAck as
a single `oms serve` (the order and the command's journaled events, with cluster order ids) for
accounts on either shard; a refusal is the SDK's typed error."""

from __future__ import annotations

import asyncio
import secrets
from decimal import Decimal
from pathlib import Path

import pytest
from test_nats_gateway import ON_SHARD_0, ON_SHARD_1, Process, delete_streams, free_port
from test_nats_gateway_stream import wait_healthy

from openoms.access.users import UserStore
from openoms.client import AsyncOmsClient, NotFound, PermissionDenied
from openoms.client.models import OrdStatus
from openoms.cluster.partition import Subjects


def test_the_sdk_submits_replaces_and_cancels_through_a_gateway_on_both_shards(tmp_path: Path, nats_url: str) -> None:
    subjects = Subjects(f"t{secrets.token_hex(4)}")
    cluster = ["--nats-url", nats_url, "--prefix", subjects.prefix]
    gateway_dir = tmp_path / "gateway"
    users = UserStore(gateway_dir / "users.sqlite")
    users.create("alice", ["trader"], [ON_SHARD_0, ON_SHARD_1])
    users.create("bob", ["trader"], [ON_SHARD_0])
    keys = {name: users.issue_api_key(name, "test", actor="test") for name in ("alice", "bob")}
    users.close()
    port = free_port()
    processes = [Process(f"shard{n}", ["--role", "engine", "--shard", f"{n}/2", "--data-dir", str(tmp_path / f"shard{n}"),
                                       *cluster], tmp_path) for n in (0, 1)]
    processes.append(Process("gateway", ["--role", "gateway", "--shards", "2", "--data-dir", str(gateway_dir),
                                         "--read-models", str(tmp_path / "read_models.sqlite"), "--port", str(port), *cluster],
                             tmp_path))
    for process in processes:
        process.start()
    url = f"http://127.0.0.1:{port}"

    async def scenario() -> None:
        await wait_healthy(url, processes[2])
        async with AsyncOmsClient(url, token=keys["alice"]) as alice, AsyncOmsClient(url, token=keys["bob"]) as bob:
            for shard, account in enumerate((ON_SHARD_0, ON_SHARD_1)):
                ack = await alice.submit_order(account, "AAPL", "buy", "10", price="1.00", cl_ord_id=f"SDK-{account}")
                order_id = ack.order.order_id
                assert order_id.startswith(f"S{shard}-O")
                assert (ack.order.account, ack.order.status, ack.order.quantity) == (account, OrdStatus.PENDING_NEW, Decimal("10"))
                accepted = [e for e in ack.events if e["type"] == "OrderAccepted"]
                assert len(accepted) == 1 and accepted[0]["order_id"] == order_id
                assert accepted[0]["cl_ord_id"] == f"SDK-{account}" and accepted[0]["account"] == account

                replaced = await alice.replace_order(order_id, quantity="20", cl_ord_id=f"SDK-{account}-R")
                assert replaced.order.order_id == order_id
                assert [(e["type"], e["order_id"]) for e in replaced.events if e["type"] == "ReplaceRequested"] == [
                    ("ReplaceRequested", order_id)]

                # Another order to cancel: this one's replace may still be pending at the venue.
                other = (await alice.submit_order(account, "AAPL", "sell", "5", price="900", cl_ord_id=f"SDK-{account}-2")).order
                canceled = await alice.cancel_order(other.order_id, cl_ord_id=f"SDK-{account}-C")
                assert canceled.order.order_id == other.order_id and other.order_id.startswith(f"S{shard}-O")
                assert [e["order_id"] for e in canceled.events if e["type"] == "CancelRequested"] == [other.order_id]

            # Refusals are the SDK's typed errors, as against a single server.
            with pytest.raises(PermissionDenied):
                await bob.submit_order(ON_SHARD_1, "AAPL", "buy", "10", price="1.00")
            with pytest.raises(NotFound, match="UNKNOWN_ORDER"):
                await alice.cancel_order("S7-O1")

    try:
        asyncio.run(scenario())
        assert [process.stop() for process in processes] == [0] * len(processes)
    finally:
        for process in processes:
            if process.proc is not None and process.proc.poll() is None:
                process.kill()
        asyncio.run(delete_streams(nats_url, subjects))
