"""Drop copy: a session that receives a copy (CopyMsgIndicator=Y) of every ExecutionReport on its
accounts, whoever entered the order (FIX or REST), gap-free across its reconnects."""

from __future__ import annotations

import uuid

import httpx
from fixharness import FixServer, Peer
from rawclient import RawClient, new_order

from openoms.fix import tags as t


def test_drop_copy_sees_fix_and_rest_orders_and_recovers_what_it_missed(fix_server: FixServer, rest: httpx.Client) -> None:
    copy = RawClient(fix_server.fix_port, sender="DROP-COPY")
    copy.logon()
    trader = Peer(fix_server.fix_port)
    try:
        a = uuid.uuid4().hex[:10]
        trader.send("D", ClOrdID=a, Symbol="AAPL", Side="1", OrderQty="100", OrdType="1", TimeInForce="0")
        fill = trader.expect(ClOrdID=a, ExecType="F", OrdStatus="2")
        copied = [copy.expect({t.ClOrdID: a, t.ExecType: kind}) for kind in ("A", "0")]
        last = copy.expect({t.ClOrdID: a, t.OrdStatus_: "2"})
        for report in [*copied, last]:
            assert report.fields[t.CopyMsgIndicator] == "Y" and report.fields[t.Account] == "ACC-EQ-1"
        assert last.fields[t.CumQty] == fill["CumQty"] and last.fields[t.AvgPx] == fill["AvgPx"]
    finally:
        assert trader.close() == 0

    # a REST order on the account is copied too; one on another account is not
    other = rest.post("/api/v1/orders", json={"account": "ACC-EQ-2", "symbol": "AAPL", "side": "buy", "quantity": "10",
                                              "price": "100.00", "cl_ord_id": "OTHER-" + a}).json()["order"]
    mine = rest.post("/api/v1/orders", json={"account": "ACC-EQ-1", "symbol": "AAPL", "side": "buy", "quantity": "10",
                                             "price": "100.00", "cl_ord_id": "REST-" + a}).json()["order"]
    copy.expect({t.ClOrdID: "REST-" + a, t.ExecType: "0"})
    assert not [m for m in copy.received if m.fields.get(t.OrderID) == other["order_id"]]

    # away: the cancel of the REST order happens; back without a reset, it asks and gets it
    copy.close()
    assert rest.post(f"/api/v1/orders/{mine['order_id']}/cancel").status_code == 202
    last_seen = max(int(m.fields[t.MsgSeqNum]) for m in copy.received)
    again = RawClient(fix_server.fix_port, sender="DROP-COPY")
    again.seq = copy.seq
    for _ in range(50):  # the server may still be closing the previous connection
        try:
            again.logon(reset=False)
            break
        except AssertionError:
            again = RawClient(fix_server.fix_port, sender="DROP-COPY")
            again.seq = copy.seq
    again.send(t.RESEND_REQUEST, [(t.BeginSeqNo, str(last_seen + 1)), (t.EndSeqNo, "0")])
    pending = again.expect({t.OrigClOrdID: mine["cl_ord_id"], t.ExecType: "6"})
    assert pending.fields[t.PossDupFlag] == "Y" and pending.fields[t.CopyMsgIndicator] == "Y"  # resent
    done = [m for m in again.received if m.fields.get(t.OrigClOrdID) == mine["cl_ord_id"] and m.fields.get(t.ExecType) == "4"]
    if not done:  # the venue's cancel may have come before the logon (resent) or after it (sent live)
        done = [again.expect({t.OrigClOrdID: mine["cl_ord_id"], t.ExecType: "4"})]
    assert done[0].fields[t.OrdStatus_] == "4"
    # and it takes no orders
    again.send(t.NEW_ORDER_SINGLE, new_order("NOPE-" + a))
    assert again.expect({t.MsgType: t.BUSINESS_MESSAGE_REJECT}).fields[t.RefMsgType] == "D"
    again.close()
