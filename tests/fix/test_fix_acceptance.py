"""FIX 4.4 Appendix D order-state scenarios, driven by QuickFIX (a real third-party FIX engine)
as the client of `oms serve`. QuickFIX validates every message the OMS sends against the FIX 4.4
data dictionary; the peer fixture fails the test if it rejected any.

Prices are chosen for deterministic outcomes against the simulated market (AAPL near 230):
a buy limit at 100 rests; market orders fill; IOC/FOK for 50,000 shares exceed the displayed
depth (at most 10,000), so IOC partially fills and FOK does not fill at all.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import httpx
from fixharness import FixServer, Peer

BUY, SELL = "1", "2"


def ids(n: int = 1) -> list[str]:
    prefix = uuid.uuid4().hex[:8]
    return [f"{prefix}-{i}" for i in range(n)]


def order(cl_ord_id: str, qty: str = "100", price: str | None = "100.00", ord_type: str = "2", tif: str = "0",
          side: str = BUY, symbol: str = "AAPL") -> dict[str, str]:
    fields = {"ClOrdID": cl_ord_id, "Symbol": symbol, "Side": side, "OrderQty": qty, "OrdType": ord_type, "TimeInForce": tif}
    if price is not None:
        fields["Price"] = price
    return fields


def resting(peer: Peer, cl_ord_id: str, **kw: str) -> dict[str, str]:
    peer.send("D", **order(cl_ord_id, **kw))
    peer.expect(ClOrdID=cl_ord_id, ExecType="A", OrdStatus="A")
    return peer.expect(ClOrdID=cl_ord_id, ExecType="0", OrdStatus="0", LeavesQty=kw.get("qty", "100"), CumQty="0")


def cancel(peer: Peer, cl_ord_id: str, orig: str) -> None:
    peer.send("F", ClOrdID=cl_ord_id, OrigClOrdID=orig, Symbol="AAPL", Side=BUY)


def test_vanilla_market_order_is_acknowledged_then_filled(peer: Peer) -> None:
    [a] = ids()
    peer.send("D", **order(a, qty="100", price=None, ord_type="1"))
    pending = peer.expect(ClOrdID=a, ExecType="A")
    assert pending["OrdStatus"] == "A" and pending["LeavesQty"] == "100" and pending["OrderID"].startswith("O")
    peer.expect(ClOrdID=a, ExecType="0", OrdStatus="0")
    cum = Decimal(0)
    notional = Decimal(0)
    while cum < 100:
        fill = peer.expect(ClOrdID=a, ExecType="F")
        cum += Decimal(fill["LastQty"])
        notional += Decimal(fill["LastQty"]) * Decimal(fill["LastPx"])
        assert Decimal(fill["CumQty"]) == cum and Decimal(fill["LeavesQty"]) == 100 - cum
    assert fill["OrdStatus"] == "2" and Decimal(fill["AvgPx"]) == notional / cum


def test_cancel_of_a_resting_order(peer: Peer) -> None:
    a, c = ids(2)
    resting(peer, a)
    cancel(peer, c, a)
    pending = peer.expect(ExecType="6", OrdStatus="6", ClOrdID=c)
    assert pending["OrigClOrdID"] == a and pending["LeavesQty"] == "100"
    done = peer.expect(ExecType="4", OrdStatus="4", ClOrdID=c)
    assert done["OrigClOrdID"] == a and done["LeavesQty"] == "0" and done["CumQty"] == "0"


def test_cancel_sent_before_the_ack_is_processed_in_order(peer: Peer) -> None:
    a, c = ids(2)
    peer.send("D", **order(a))
    cancel(peer, c, a)  # at once, before any report for the order has come back
    peer.expect(ClOrdID=a, ExecType="A")
    peer.expect(ExecType="6", ClOrdID=c, OrigClOrdID=a)
    peer.expect(ExecType="4", OrdStatus="4", ClOrdID=c, OrigClOrdID=a)


def test_cancel_of_an_unknown_order_is_rejected(peer: Peer) -> None:
    [c] = ids()
    cancel(peer, c, "NO-SUCH-ORDER")
    reject = peer.expect("OrderCancelReject", ClOrdID=c)
    assert reject["CxlRejReason"] == "1" and reject["CxlRejResponseTo"] == "1" and reject["OrigClOrdID"] == "NO-SUCH-ORDER"


def test_replace_up_then_down_then_chained(peer: Peer) -> None:
    a, b, c, d = ids(4)
    resting(peer, a)
    peer.send("G", ClOrdID=b, OrigClOrdID=a, Symbol="AAPL", Side=BUY, OrdType="2", OrderQty="200", Price="101.00")
    peer.expect(ExecType="E", OrdStatus="E", ClOrdID=b, OrigClOrdID=a)
    up = peer.expect(ExecType="5", ClOrdID=b, OrigClOrdID=a)
    assert (up["OrdStatus"], up["OrderQty"], up["Price"], up["LeavesQty"]) == ("0", "200", "101.00", "200")
    peer.send("G", ClOrdID=c, OrigClOrdID=b, Symbol="AAPL", Side=BUY, OrdType="2", OrderQty="50", Price="101.00")
    down = peer.expect(ExecType="5", ClOrdID=c, OrigClOrdID=b)
    assert (down["OrderQty"], down["LeavesQty"]) == ("50", "50")
    # chained: the next request names the last accepted ClOrdID
    cancel(peer, d, c)
    peer.expect(ExecType="4", OrdStatus="4", ClOrdID=d, OrigClOrdID=c)


def test_replace_or_cancel_of_a_filled_order_is_too_late(peer: Peer) -> None:
    a, b, c = ids(3)
    peer.send("D", **order(a, price=None, ord_type="1"))
    peer.expect(ClOrdID=a, ExecType="F", OrdStatus="2")
    peer.send("G", ClOrdID=b, OrigClOrdID=a, Symbol="AAPL", Side=BUY, OrdType="1", OrderQty="300")
    reject = peer.expect("OrderCancelReject", ClOrdID=b)
    assert (reject["CxlRejReason"], reject["CxlRejResponseTo"], reject["OrdStatus"]) == ("0", "2", "2")
    cancel(peer, c, a)
    reject = peer.expect("OrderCancelReject", ClOrdID=c)
    assert (reject["CxlRejReason"], reject["CxlRejResponseTo"]) == ("0", "1")


def test_rejects_carry_the_engine_reason(peer: Peer) -> None:
    a, b, c = ids(3)
    peer.send("D", **order(a, symbol="NOPE"))
    unknown = peer.expect(ClOrdID=a, ExecType="8")
    assert unknown["OrdStatus"] == "8" and unknown["OrdRejReason"] == "1" and "UNKNOWN_INSTRUMENT" in unknown["Text"]
    peer.send("D", **order(b, qty="2000000"))
    risk = peer.expect(ClOrdID=b, ExecType="8")
    assert risk["OrdRejReason"] == "3" and "RISK_MAX_QUANTITY" in risk["Text"]
    resting(peer, c)
    peer.send("D", **order(c))
    duplicate = peer.expect(ClOrdID=c, ExecType="8")
    assert duplicate["OrdRejReason"] == "6" and "DUPLICATE_CL_ORD_ID" in duplicate["Text"]


def test_status_request_for_a_known_and_an_unknown_order(peer: Peer) -> None:
    [a] = ids()
    resting(peer, a)
    peer.send("H", ClOrdID=a, Symbol="AAPL", Side=BUY)
    status = peer.expect(ClOrdID=a, ExecType="I")
    assert (status["OrdStatus"], status["LeavesQty"], status["CumQty"]) == ("0", "100", "0")
    peer.send("H", ClOrdID="NOT-MINE", Symbol="AAPL", Side=BUY)
    assert peer.expect(ClOrdID="NOT-MINE", ExecType="I")["OrdStatus"] == "8"


def test_ioc_partially_fills_and_cancels_the_rest_fok_does_not_fill(peer: Peer, rest: httpx.Client) -> None:
    a, b = ids(2)
    last = Decimal(rest.get("/api/v1/marketdata/AAPL").json()["last"])
    price = str((last * Decimal("1.05")).quantize(Decimal("0.01")))
    peer.send("D", **order(a, qty="50000", price=price, tif="3"))
    canceled = peer.expect(ClOrdID=a, ExecType="4")
    cum = Decimal(canceled["CumQty"])
    assert canceled["OrdStatus"] == "4" and canceled["LeavesQty"] == "0" and 0 < cum < 50000
    peer.send("D", **order(b, qty="50000", price=price, tif="4"))
    killed = peer.expect(ClOrdID=b, ExecType="4")
    assert killed["CumQty"] == "0" and killed["OrdStatus"] == "4"


def test_fix_order_is_seen_and_canceled_over_rest_and_the_client_hears_it(peer: Peer, rest: httpx.Client) -> None:
    [a] = ids()
    ack = resting(peer, a)
    order_id = ack["OrderID"]
    seen = rest.get(f"/api/v1/orders/{order_id}").json()["order"]
    assert (seen["cl_ord_id"], seen["account"], seen["status"], seen["quantity"]) == (a, "ACC-EQ-1", "new", "100")
    assert rest.post(f"/api/v1/orders/{order_id}/cancel").status_code == 202
    pending = peer.expect(ExecType="6", OrdStatus="6", OrigClOrdID=a)
    done = peer.expect(ExecType="4", OrdStatus="4", OrigClOrdID=a)
    assert done["ClOrdID"] == pending["ClOrdID"] != a


def test_trade_correction_and_bust_over_rest_reach_the_client(peer: Peer, rest: httpx.Client) -> None:
    [a] = ids()
    peer.send("D", **order(a, price=None, ord_type="1"))
    fill = peer.expect(ClOrdID=a, ExecType="F", OrdStatus="2")
    exec_id = fill["ExecID"]
    assert rest.post(f"/api/v1/executions/{exec_id}/correct", json={"last_qty": "100", "last_px": "199.50"}).status_code == 202
    corrected = peer.expect(ClOrdID=a, ExecType="G", ExecRefID=exec_id)
    assert (corrected["CumQty"], corrected["AvgPx"], corrected["LastPx"]) == ("100", "199.5", "199.50")
    assert rest.post(f"/api/v1/executions/{exec_id}/bust").status_code == 202
    busted = peer.expect(ClOrdID=a, ExecType="H", ExecRefID=exec_id)
    assert busted["CumQty"] == "0" and busted["OrdStatus"] != "2"


def test_mass_status_and_mass_cancel(peer: Peer) -> None:
    a, b, q = ids(3)
    resting(peer, a)
    resting(peer, b, side=SELL, price="400.00")
    peer.send("AF", MassStatusReqID=q, MassStatusReqType="7")
    reports = {}
    while True:  # one report per open order of the session (earlier tests may have left some)
        report = peer.expect(ExecType="I", MassStatusReqID=q)
        reports[report["ClOrdID"]] = report
        if report["LastRptRequested"] == "Y":
            break
    assert len(reports) == int(report["TotNumReports"]) and reports[a]["OrdStatus"] == reports[b]["OrdStatus"] == "0"
    peer.send("q", ClOrdID=q, MassCancelRequestType="7")
    report = peer.expect("OrderMassCancelReport", ClOrdID=q)
    assert report["MassCancelResponse"] == "7" and int(report["TotalAffectedOrders"]) >= 2
    peer.expect(ExecType="4", OrigClOrdID=a)
    peer.expect(ExecType="4", OrigClOrdID=b)


def test_unsupported_message_gets_a_business_reject(peer: Peer) -> None:
    peer.send("R", QuoteReqID="Q1", NoRelatedSym="1", Symbol="AAPL")
    reject = peer.expect("BusinessMessageReject", RefMsgType="R")
    assert reject["BusinessRejectReason"] == "3"


def test_done_for_day_and_restatement_of_gtc_day_orders_expire(fix_server: FixServer, rest: httpx.Client) -> None:
    # Last in the module: it closes the trading day (and opens the next one).
    peer = Peer(fix_server.fix_port)
    try:
        gtc, day = ids(2)
        resting(peer, gtc, tif="1")
        resting(peer, day)
        assert rest.post("/api/v1/admin/end-of-day").status_code < 300
        done = peer.expect(ClOrdID=gtc, ExecType="3")
        assert done["OrdStatus"] == "3" and done["LeavesQty"] == "0"
        expired = peer.expect(ClOrdID=day, ExecType="C")
        assert expired["OrdStatus"] == "C"
        assert rest.post("/api/v1/admin/start-of-day").status_code < 300
        restated = peer.expect(ClOrdID=gtc, ExecType="D")
        assert restated["OrdStatus"] == "0" and restated["LeavesQty"] == "100" and restated["ExecRestatementReason"] == "1"
    finally:
        assert peer.close() == 0


def test_fix_sessions_are_in_the_metrics_while_logged_on(peer: Peer, rest: httpx.Client) -> None:
    resting(peer, ids()[0])  # the peer is logged on and has traded
    metrics = rest.get("/metrics")
    assert metrics.status_code == 200
    lines = [line for line in metrics.text.splitlines() if line.startswith("oms_fix_session_")]
    logged_on = [line for line in lines if line.startswith("oms_fix_session_logged_on{") and 'role="client"' in line]
    assert any(line.endswith(" 1.0") for line in logged_on), lines
    assert any(line.startswith("oms_fix_session_next_seq_in{") for line in lines)
