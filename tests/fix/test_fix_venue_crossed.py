"""FIX 4.4 Appendix D "replace (or cancel) crossed by a fill", end to end over FIX on both sides.

A QuickFIX client sends orders to `oms serve`; the OMS routes them (MSFT) to a FIX venue that is
a QuickFIX exchange in ``--hold`` mode: it acknowledges new orders, but fills and answers
cancels and replaces only when the test says so. So the test holds the venue's answer to a
replace, has the venue fill the original order, then lets it accept or refuse the replace, and
checks every report the client receives, in order: ExecType, OrdStatus (Pending Replace and
Pending Cancel outrank the fill's status, as FIX 4.4 ranks them), ClOrdID/OrigClOrdID (a fill
before the replace is confirmed belongs to the original ClOrdID), CumQty and LeavesQty.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fixharness import PEER, FixServer, Peer, free_port, need_quickfix

BUY = "1"


class HoldingExchange:
    """peer.py --acceptor --hold: told on stdin when to fill and how to answer."""

    def __init__(self, port: int) -> None:
        need_quickfix()
        self.port = port
        self.proc = subprocess.Popen([sys.executable, str(PEER), "--acceptor", "--hold", "--port", str(port), "--sender", "HOLD",
                                      "--target", "OPENOMS", "--quiet"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        stdout = self.proc.stdout
        assert stdout is not None
        threading.Thread(target=lambda: [self.events.put(json.loads(line)) for line in stdout], daemon=True).start()
        self.wait_for("listening")

    def wait_for(self, name: str, timeout: float = 20, **want: str) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            assert event["event"] != "error", event
            if event["event"] == name and all(event.get(k) == v for k, v in want.items()):
                return event

    def tell(self, **command: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            assert self.proc.wait(timeout=20) == 0


@pytest.fixture(scope="module")
def venue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HoldingExchange, FixServer]]:
    exchange = HoldingExchange(free_port())
    base = tmp_path_factory.mktemp("crossed")
    config = base / "oms.toml"
    config.write_text(f"""
[[fix.sessions]]
sender_comp_id = "DEMO-CLIENT"
target_comp_id = "OPENOMS"
accounts = ["ACC-EQ-1"]
user = "demo"

[[fix.venues]]
venue_id = "HOLD"
port = {exchange.port}
target_comp_id = "HOLD"
symbols = ["MSFT"]
reconnect_s = 0.2
""")
    server = FixServer(base / "oms-data", config)
    try:
        server.start()
        exchange.wait_for("logon")
        yield exchange, server
    finally:
        server.stop()
        exchange.stop()


@pytest.fixture
def client(venue: tuple[HoldingExchange, FixServer]) -> Iterator[Peer]:
    peer = Peer(venue[1].fix_port)
    try:
        yield peer
    finally:
        assert peer.close() == 0


def ids(n: int) -> list[str]:
    prefix = uuid.uuid4().hex[:8]
    return [f"{prefix}-{i}" for i in range(n)]


def working(client: Peer, cl_ord_id: str) -> None:
    """A buy of 100 MSFT at 419.00, acknowledged by the venue."""
    client.send("D", ClOrdID=cl_ord_id, Symbol="MSFT", Side=BUY, OrderQty="100", OrdType="2", Price="419.00", TimeInForce="0")
    client.expect(ClOrdID=cl_ord_id, ExecType="A", OrdStatus="A")
    client.expect(ClOrdID=cl_ord_id, ExecType="0", OrdStatus="0", CumQty="0", LeavesQty="100")


def reports(client: Peer, n: int) -> list[dict[str, str]]:
    """The next ``n`` application messages the client receives, whatever they are."""
    out = []
    while len(out) < n:
        event = client.wait_for("recv")
        out.append({"msg": event["msg"], **event["fields"]})
    return out


def pick(report: dict[str, str], *names: str) -> tuple[str | None, ...]:
    return tuple(report.get(name) for name in names)


ER = ("msg", "ExecType", "OrdStatus", "ClOrdID", "OrigClOrdID", "OrderQty", "CumQty", "LeavesQty")


def test_replace_crossed_by_a_partial_fill_then_accepted(venue: tuple[HoldingExchange, FixServer], client: Peer) -> None:
    exchange, _ = venue
    a, b = ids(2)
    working(client, a)
    client.send("G", ClOrdID=b, OrigClOrdID=a, Symbol="MSFT", Side=BUY, OrdType="2", OrderQty="150", Price="419.00")
    held = exchange.wait_for("held", MsgType="G")  # the venue's ClOrdIDs are the OMS's, not the client's
    exchange.tell(fill=held["OrigClOrdID"], qty="40")  # the venue fills the original while the replace is in flight
    pending, fill = reports(client, 2)
    exchange.tell(answer=held["ClOrdID"], accept=True)
    [replaced] = reports(client, 1)
    assert pick(pending, *ER) == ("ExecutionReport", "E", "E", b, a, "100", "0", "100")
    assert pick(fill, *ER) == ("ExecutionReport", "F", "E", a, None, "100", "40", "60")
    assert pick(fill, "LastQty", "LastPx", "AvgPx") == ("40", "419.00", "419")
    assert pick(replaced, *ER) == ("ExecutionReport", "5", "1", b, a, "150", "40", "110")


def test_replace_crossed_by_a_complete_fill_is_rejected_too_late(venue: tuple[HoldingExchange, FixServer], client: Peer) -> None:
    exchange, _ = venue
    a, b, c = ids(3)
    working(client, a)
    client.send("G", ClOrdID=b, OrigClOrdID=a, Symbol="MSFT", Side=BUY, OrdType="2", OrderQty="150", Price="419.00")
    held = exchange.wait_for("held", MsgType="G")
    exchange.tell(fill=held["OrigClOrdID"])  # all 100
    pending, fill = reports(client, 2)
    exchange.tell(answer=held["ClOrdID"], accept=False)  # the venue can only refuse now: the order is filled
    [refused] = reports(client, 1)
    assert pick(pending, *ER) == ("ExecutionReport", "E", "E", b, a, "100", "0", "100")
    assert pick(fill, *ER) == ("ExecutionReport", "F", "E", a, None, "100", "100", "0")
    assert pick(refused, "msg", "ClOrdID", "OrigClOrdID", "OrdStatus", "CxlRejResponseTo") == (
        "OrderCancelReject", b, a, "2", "2")
    # The order stays filled under its original ClOrdID, with nothing pending: a cancel is too late.
    client.send("H", ClOrdID=a, Symbol="MSFT", Side=BUY)
    [status] = reports(client, 1)
    assert pick(status, *ER) == ("ExecutionReport", "I", "2", a, None, "100", "100", "0")
    client.send("F", ClOrdID=c, OrigClOrdID=a, Symbol="MSFT", Side=BUY)
    [too_late] = reports(client, 1)
    assert pick(too_late, "msg", "ClOrdID", "OrigClOrdID", "OrdStatus", "CxlRejReason") == ("OrderCancelReject", c, a, "2", "0")


def test_cancel_crossed_by_a_partial_fill_then_accepted(venue: tuple[HoldingExchange, FixServer], client: Peer) -> None:
    exchange, _ = venue
    a, b = ids(2)
    working(client, a)
    client.send("F", ClOrdID=b, OrigClOrdID=a, Symbol="MSFT", Side=BUY)
    held = exchange.wait_for("held", MsgType="F")
    exchange.tell(fill=held["OrigClOrdID"], qty="30")
    pending, fill = reports(client, 2)
    exchange.tell(answer=held["ClOrdID"], accept=True)
    [canceled] = reports(client, 1)
    assert pick(pending, *ER) == ("ExecutionReport", "6", "6", b, a, "100", "0", "100")
    assert pick(fill, *ER) == ("ExecutionReport", "F", "6", a, None, "100", "30", "70")
    assert pick(canceled, *ER) == ("ExecutionReport", "4", "4", b, a, "100", "30", "0")
