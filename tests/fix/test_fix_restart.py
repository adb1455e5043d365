"""Restart of `oms serve` mid-session: sequence numbers are kept, and what the client missed while
away (here: the cancel of its order over REST) is resent when it asks (PossDupFlag=Y)."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from fixharness import FixServer, Peer
from rawclient import RawClient, new_order

from openoms.fix import tags as t


def test_restart_keeps_sequence_numbers_and_resends_what_was_missed(fix_server: FixServer, rest: httpx.Client) -> None:
    client = RawClient(fix_server.fix_port, sender="RAW-CLIENT")
    client.logon()
    a = uuid.uuid4().hex[:10]
    client.send(t.NEW_ORDER_SINGLE, new_order(a))
    ack = client.expect({t.ClOrdID: a, t.ExecType: "0"})
    last_seen = int(ack.fields[t.MsgSeqNum])
    client.close()  # gone without a logout
    assert rest.post(f"/api/v1/orders/{ack.fields[t.OrderID]}/cancel").status_code == 202
    assert rest.get(f"/api/v1/orders/{ack.fields[t.OrderID]}").json()["order"]["status"] == "canceled"
    assert fix_server.stop() == 0
    fix_server.start()

    again = RawClient(fix_server.fix_port, sender="RAW-CLIENT")
    again.seq = client.seq  # carry on where we were: no ResetSeqNumFlag
    logon = again.logon(reset=False)
    assert int(logon.fields[t.MsgSeqNum]) == last_seen + 3  # two reports were kept for us, then this Logon
    again.send(t.RESEND_REQUEST, [(t.BeginSeqNo, str(last_seen + 1)), (t.EndSeqNo, "0")])
    pending = again.expect({t.ExecType: "6"})
    canceled = again.expect({t.ExecType: "4"})
    for report in (pending, canceled):
        assert report.fields[t.PossDupFlag] == "Y" and t.OrigSendingTime in report.fields
        assert report.fields[t.OrigClOrdID] == a and report.fields[t.OrderID] == ack.fields[t.OrderID]
    assert int(pending.fields[t.MsgSeqNum]) == last_seen + 1 and canceled.fields[t.OrdStatus_] == "4"
    again.send(t.TEST_REQUEST, [(t.TestReqID, "AFTER-RESTART")])
    again.expect({t.MsgType: t.HEARTBEAT, t.TestReqID: "AFTER-RESTART"})
    # the OMS kept *our* sequence number too: it never asked us to resend anything
    assert not [m for m in again.received if m.msg_type == t.RESEND_REQUEST]
    again.close()


def test_quickfix_client_recovers_missed_reports_after_a_restart(fix_server: FixServer, rest: httpx.Client,
                                                                 tmp_path: Path) -> None:
    """The same with QuickFIX keeping its own sequence numbers (ResetOnLogon=N): it notices the
    gap itself and its ResendRequest is answered."""
    store = str(tmp_path / "quickfix")
    first = Peer(fix_server.fix_port, "DEMO-CLIENT", "OPENOMS", "--no-reset", "--log-dir", store)
    a = uuid.uuid4().hex[:10]
    first.send("D", ClOrdID=a, Symbol="AAPL", Side="1", OrderQty="100", OrdType="2", Price="100.00", TimeInForce="1")
    order_id = first.expect(ClOrdID=a, ExecType="0")["OrderID"]
    assert first.close() == 0
    assert rest.post(f"/api/v1/orders/{order_id}/cancel").status_code == 202
    assert fix_server.stop() == 0
    fix_server.start()
    second = Peer(fix_server.fix_port, "DEMO-CLIENT", "OPENOMS", "--no-reset", "--log-dir", store)
    resent = second.expect(ExecType="4", OrigClOrdID=a)
    assert resent["PossDupFlag"] == "Y" and resent["OrderID"] == order_id
    assert second.close() == 0
