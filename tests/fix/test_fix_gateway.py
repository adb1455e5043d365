"""FIX through a cluster gateway: two engine shards and a gateway (`oms serve --role gateway`
with `[[fix.sessions]]` configured) as real processes on the local NATS JetStream, a QuickFIX
initiator as the client. New orders for accounts on both shards get PendingNew and New reports
(a marketable one its fill), with cluster order ids; a cancel reaches the owning shard and is
reported; an unknown order's cancel is refused. A drop copy session on the gateway gets a copy
of every report of its account (shard 1's), none of the other's, and what it missed while
away when it logs on again and asks."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path

import httpx
from fixharness import Peer, free_port
from rawclient import RawClient, new_order

from integration.test_nats_gateway import ON_SHARD_0, ON_SHARD_1, Process, delete_streams
from openoms.access.users import UserStore
from openoms.cluster.partition import Subjects
from openoms.fix import tags as t

BUY = "1"


def cluster_config(fix_port: int) -> str:
    return f"""
[fix]
port = {fix_port}

[[fix.sessions]]
sender_comp_id = "CLUSTER-CLIENT"
target_comp_id = "OPENOMS"
accounts = ["{ON_SHARD_0}", "{ON_SHARD_1}"]
user = "alice"

[[fix.sessions]]
sender_comp_id = "CLUSTER-COPY"
target_comp_id = "OPENOMS"
accounts = ["{ON_SHARD_1}"]
drop_copy = true
"""


def wait_healthy(url: str, process: Process) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, process.log.read_text()
        time.sleep(0.1)


def logon_again(port: int, seq: int) -> RawClient:
    """The drop copy back without a reset (the gateway may still be closing its old connection)."""
    for _ in range(50):
        again = RawClient(port, sender="CLUSTER-COPY")
        again.seq = seq
        try:
            again.logon(reset=False)
            return again
        except AssertionError:
            again.close()
            time.sleep(0.1)
    raise AssertionError("the drop copy could not log on again")


def test_fix_orders_and_a_drop_copy_through_a_gateway_to_two_shards(tmp_path: Path, nats_url: str) -> None:
    subjects = Subjects(f"t{secrets.token_hex(4)}")
    cluster = ["--nats-url", nats_url, "--prefix", subjects.prefix]
    port, fix_port = free_port(), free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(cluster_config(fix_port))
    processes = [Process(f"shard{n}", ["--role", "engine", "--shard", f"{n}/2", "--data-dir", str(tmp_path / f"shard{n}"),
                                       *cluster], tmp_path) for n in (0, 1)]
    gateway = Process("gateway", ["--role", "gateway", "--shards", "2", "--data-dir", str(tmp_path / "gateway"),
                                  "--read-models", str(tmp_path / "read_models.sqlite"), "--port", str(port),
                                  "--config", str(config), *cluster], tmp_path)
    processes.append(gateway)
    for process in processes:
        process.start()
    tag = secrets.token_hex(4)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", gateway)
        copy = RawClient(fix_port, sender="CLUSTER-COPY")
        copy.logon()
        peer = Peer(fix_port, "CLUSTER-CLIENT")
        health = httpx.get(f"http://127.0.0.1:{port}/health").json()["fix"]
        assert health["listening"] and {key: (s["drop_copy"], s["logged_on"]) for key, s in health["sessions"].items()} == {
            "FIX.4.4:OPENOMS->CLUSTER-CLIENT": (False, True), "FIX.4.4:OPENOMS->CLUSTER-COPY": (True, True)}
        try:
            resting: dict[str, str] = {}
            for shard, account in enumerate((ON_SHARD_0, ON_SHARD_1)):
                cl_ord_id = f"R-{shard}-{tag}"
                peer.send("D", ClOrdID=cl_ord_id, Account=account, Symbol="AAPL", Side=BUY, OrderQty="10", OrdType="2",
                          Price="1.00", TimeInForce="0")
                pending = peer.expect(ClOrdID=cl_ord_id, ExecType="A", OrdStatus="A")
                assert pending["Account"] == account and pending["OrderID"].startswith(f"S{shard}-O")
                new = peer.expect(ClOrdID=cl_ord_id, ExecType="0", OrdStatus="0")
                assert new["OrderID"] == pending["OrderID"] and new["LeavesQty"] == "10"
                resting[account] = pending["OrderID"]

            filled_id = f"F-{tag}"  # marketable: fills at shard 1's simulated venue
            peer.send("D", ClOrdID=filled_id, Account=ON_SHARD_1, Symbol="AAPL", Side=BUY, OrderQty="10", OrdType="2",
                      Price="100000", TimeInForce="0")
            fill = peer.expect(ClOrdID=filled_id, ExecType="F", OrdStatus="2")
            assert fill["CumQty"] == "10" and fill["LeavesQty"] == "0" and fill["OrderID"].startswith("S1-O")

            for shard, account in enumerate((ON_SHARD_0, ON_SHARD_1)):
                orig, cancel_id = f"R-{shard}-{tag}", f"C-{shard}-{tag}"
                peer.send("F", ClOrdID=cancel_id, OrigClOrdID=orig, Symbol="AAPL", Side=BUY)
                peer.expect(ExecType="6", ClOrdID=cancel_id, OrigClOrdID=orig)
                done = peer.expect(ExecType="4", OrdStatus="4", ClOrdID=cancel_id, OrigClOrdID=orig)
                assert done["OrderID"] == resting[account] and done["LeavesQty"] == "0"
            peer.send("F", ClOrdID=f"C-NONE-{tag}", OrigClOrdID="NO-SUCH-ORDER", Symbol="AAPL", Side=BUY)
            assert peer.expect("OrderCancelReject", OrigClOrdID="NO-SUCH-ORDER")["CxlRejReason"] == "1"

            # The drop copy: every report of shard 1's account, copied; nothing of shard 0's.
            copy.expect({t.ClOrdID: filled_id, t.OrdStatus_: "2"})
            copy.expect({t.OrigClOrdID: f"R-1-{tag}", t.ExecType: "4"})
            copied = [m for m in copy.received if m.msg_type == t.EXECUTION_REPORT]
            assert {m.fields[t.Account] for m in copied} == {ON_SHARD_1}
            assert all(m.fields[t.CopyMsgIndicator] == "Y" for m in copied)
            assert [m.fields[t.ExecType] for m in copied if m.fields[t.ClOrdID] == f"R-1-{tag}"][:2] == ["A", "0"]

            # Away, then back without a reset: it asks for what it missed and gets it.
            copy.close()
            last_seen = max(int(m.fields[t.MsgSeqNum]) for m in copy.received)
            missed = f"M-{tag}"
            peer.send("D", ClOrdID=missed, Account=ON_SHARD_1, Symbol="AAPL", Side=BUY, OrderQty="5", OrdType="2",
                      Price="1.00", TimeInForce="0")
            peer.expect(ClOrdID=missed, ExecType="0")
            again = logon_again(fix_port, copy.seq)
            again.send(t.RESEND_REQUEST, [(t.BeginSeqNo, str(last_seen + 1)), (t.EndSeqNo, "0")])
            resent = again.expect({t.ClOrdID: missed, t.ExecType: "0"})
            assert resent.fields[t.PossDupFlag] == "Y" and resent.fields[t.CopyMsgIndicator] == "Y"
            again.send(t.NEW_ORDER_SINGLE, new_order(f"NOPE-{tag}"))  # and it takes no orders
            assert again.expect({t.MsgType: t.BUSINESS_MESSAGE_REJECT}).fields[t.RefMsgType] == "D"
            again.close()
        finally:
            assert peer.close() == 0

        # This gateway stopped; through another one (REST only) the FIX order is canceled and a
        # new order placed on the copied account. Restarted, the gateway reports what happened
        # meanwhile: the drop copy asks for and gets it, the client session's order is canceled.
        assert gateway.stop() == 0
        other_dir = tmp_path / "gateway-rest"
        users = UserStore(other_dir / "users.sqlite")
        users.create("alice", ["trader"], [ON_SHARD_0, ON_SHARD_1])
        key = users.issue_api_key("alice", "test", actor="test")
        users.close()
        other_port = free_port()
        processes.append(Process("gateway-rest", ["--role", "gateway", "--shards", "2", "--data-dir", str(other_dir),
                                                  "--read-models", str(tmp_path / "read_models.sqlite"),
                                                  "--port", str(other_port), *cluster], tmp_path).start())
        wait_healthy(f"http://127.0.0.1:{other_port}", processes[-1])
        with httpx.Client(base_url=f"http://127.0.0.1:{other_port}", headers={"Authorization": f"Bearer {key}"}) as rest:
            missed_order_id = resent.fields[t.OrderID]
            assert rest.post(f"/api/v1/orders/{missed_order_id}/cancel").status_code == 202
            placed = rest.post("/api/v1/orders", json={"account": ON_SHARD_1, "cl_ord_id": f"REST-{tag}", "symbol": "AAPL",
                                                       "side": "buy", "quantity": "7", "price": "1.00"})
            assert placed.status_code == 201, placed.text
        copy_seen = max(int(m.fields[t.MsgSeqNum]) for m in again.received)
        gateway.start()
        wait_healthy(f"http://127.0.0.1:{port}", gateway)
        back = logon_again(fix_port, again.seq)
        back.send(t.RESEND_REQUEST, [(t.BeginSeqNo, str(copy_seen + 1)), (t.EndSeqNo, "0")])
        back.expect({t.OrigClOrdID: missed, t.ExecType: "6"})
        back.expect({t.OrigClOrdID: missed, t.ExecType: "4", t.OrdStatus_: "4"})
        back.expect({t.ClOrdID: f"REST-{tag}", t.ExecType: "0"})
        assert [m.fields[t.ExecType] for m in back.received if m.fields.get(t.ClOrdID) == f"REST-{tag}"][:2] == ["A", "0"]
        back.close()
        client = RawClient(fix_port, sender="CLUSTER-CLIENT")
        client.logon()
        client.send(t.ORDER_STATUS_REQUEST, [(t.ClOrdID, missed), (t.Symbol, "AAPL"), (t.Side_, BUY)])
        status = client.expect({t.MsgType: t.EXECUTION_REPORT, t.ExecType: "I"})
        assert (status.fields[t.OrderID], status.fields[t.OrdStatus_]) == (missed_order_id, "4")
        client.close()
        assert [process.stop() for process in processes] == [0] * len(processes)
    finally:
        for process in processes:
            if process.proc is not None and process.proc.poll() is None:
                process.kill()
        asyncio.run(delete_streams(nats_url, subjects))
