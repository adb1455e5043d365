"""Bad input over a real socket to `oms serve`: each problem is answered at the right level
(ignored, session Reject with its SessionRejectReason, BusinessMessageReject, ExecutionReport
reject, logout) and never crashes the gateway, affects another session or journals half an order."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from fixharness import FixServer
from rawclient import RawClient, new_order

from openoms.fix import tags as t


def connect(fix_server: FixServer) -> RawClient:
    """Log on as RAW-CLIENT; the previous test's connection may still be closing, so retry."""
    for _ in range(20):
        raw = RawClient(fix_server.fix_port, sender="RAW-CLIENT")
        try:
            raw.logon()
            return raw
        except (AssertionError, OSError):
            raw.close()
            time.sleep(0.1)
    raise AssertionError("could not log on as RAW-CLIENT")


@pytest.fixture
def client(fix_server: FixServer) -> Iterator[RawClient]:
    raw = connect(fix_server)
    yield raw
    raw.close()


def uid() -> str:
    return uuid.uuid4().hex[:10]


def reject_of(client: RawClient) -> dict[int, str]:
    return client.expect(lambda m: m.msg_type in (t.REJECT, t.BUSINESS_MESSAGE_REJECT, t.EXECUTION_REPORT, t.LOGOUT)).fields


def test_garbled_checksum_is_ignored_and_its_sequence_number_not_used(client: RawClient) -> None:
    good = client.message(t.NEW_ORDER_SINGLE, new_order(a := uid()))
    client.seq -= 1  # the garbled copy and the good one carry the same MsgSeqNum
    garbled = bytearray(good)
    garbled[-4:-1] = b"%03d" % ((int(good[-4:-1]) + 1) % 256)
    client.send_raw(bytes(garbled))
    client.seq += 1
    client.send_raw(good)
    report = client.expect({t.ClOrdID: a})
    assert report.fields[t.ExecType] == "A"  # the good one is in sequence: the garbled one used nothing


@pytest.mark.parametrize(
    ("body", "reason", "tag"),
    [
        ([(t.ClOrdID, "X"), (t.Side_, "1")], "1", str(t.Symbol)),  # required tag missing
        (new_order("Y", side="Q"), "5", str(t.Side_)),  # value out of range
        (new_order("Z", qty="1O0"), "6", str(t.OrderQty)),  # not a number
        (new_order("W", price="1.2.3"), "6", str(t.Price)),
        ([*new_order("V"), (t.Symbol, "MSFT")], "13", str(t.Symbol)),  # tag twice
        ([*new_order("U"), (t.Account, "")], "4", str(t.Account)),  # tag without a value
    ],
)
def test_invalid_new_orders_get_a_session_reject_with_the_reason(client: RawClient, body: list[tuple[int, str]],
                                                                  reason: str, tag: str, rest: httpx.Client) -> None:
    client.send(t.NEW_ORDER_SINGLE, body)
    fields = reject_of(client)
    assert (fields[t.MsgType], fields[t.SessionRejectReason], fields[t.RefTagID], fields[t.RefMsgType]) == ("3", reason, tag, "D")
    cl_ord_id = dict(body).get(t.ClOrdID)
    assert not [o for o in rest.get("/api/v1/orders").json()["orders"] if o["cl_ord_id"] == cl_ord_id]  # nothing journaled


def test_unknown_msg_type_unsupported_msg_type_and_unsupported_values(client: RawClient) -> None:
    client.send("ZZ", [])
    fields = reject_of(client)
    assert (fields[t.MsgType], fields[t.SessionRejectReason]) == ("3", "11")
    client.send("R", [(131, "Q1")])  # QuoteRequest: valid FIX 4.4, not taken here
    fields = reject_of(client)
    assert (fields[t.MsgType], fields[t.BusinessRejectReason], fields[t.RefMsgType]) == ("j", "3", "R")
    client.send(t.NEW_ORDER_SINGLE, new_order(a := uid(), ord_type="P"))  # pegged: valid FIX, not supported
    fields = reject_of(client)
    assert (fields[t.MsgType], fields[t.ExecType], fields[t.OrdRejReason], fields[t.ClOrdID]) == ("8", "8", "11", a)
    client.send(t.NEW_ORDER_SINGLE, new_order(b := uid(), _1="ACC-FI-1"))  # an account not bound to the session
    fields = reject_of(client)
    assert (fields[t.ExecType], fields[t.ClOrdID]) == ("8", b) and "not bound" in fields[t.Text]


def test_an_account_bound_to_the_session_can_be_chosen(client: RawClient, rest: httpx.Client) -> None:
    client.send(t.NEW_ORDER_SINGLE, new_order(a := uid(), _1="ACC-EQ-2"))
    ack = client.expect({t.ClOrdID: a, t.ExecType: "0"})
    assert ack.fields[t.Account] == "ACC-EQ-2"
    order = rest.get(f"/api/v1/orders/{ack.fields[t.OrderID]}").json()["order"]
    assert (order["account"], order["trader"]) == ("ACC-EQ-2", "alice")


def test_sequence_number_too_low_logs_out(fix_server: FixServer) -> None:
    client = connect(fix_server)
    client.send(t.HEARTBEAT, [], seq=1)
    logout = client.expect(lambda m: m.msg_type == t.LOGOUT)
    assert "MsgSeqNum too low, expecting 2 but received 1" in logout.fields[t.Text]
    assert client.read(5) is None  # and the connection is closed


def test_unknown_session_and_non_logon_first_message_are_disconnected(fix_server: FixServer) -> None:
    stranger = RawClient(fix_server.fix_port, sender="NOBODY")
    stranger.send(t.LOGON, [(t.EncryptMethod, "0"), (t.HeartBtInt, "30")])
    assert stranger.read(5) is None
    rude = RawClient(fix_server.fix_port, sender="RAW-CLIENT")
    rude.send(t.NEW_ORDER_SINGLE, new_order(uid()))
    assert rude.read(5) is None


FUZZ_VALUES = ["", "0", "-1", "1e5", "NaN", "Infinity", "9" * 40, "0.000000001", "AAPL", "ZZZZ", "1", "2", "8", "Y",
               "20261126-25:61:61", "\x7f", "\xff\xfe", "=", "A" * 300, "-0", " 1", "1,000"]
FUZZ_TYPES = ["D", "F", "G", "H", "q", "AF", "0", "1", "2", "3", "j", "8", "A", "ZZ", ""]  # not 4: it moves sequence numbers
FUZZ_TAGS = [t.ClOrdID, t.OrigClOrdID, t.Symbol, t.Side_, t.OrderQty, t.OrdType_, t.Price, t.StopPx, t.TimeInForce_,
             t.ExpireTime, t.Account, t.TransactTime, t.MassCancelRequestType, t.MassStatusReqID, t.MassStatusReqType,
             t.BeginSeqNo, t.EndSeqNo, t.NewSeqNo, t.GapFillFlag, t.TestReqID, 9999, 0]


def test_fuzzed_messages_never_break_the_gateway(fix_server: FixServer, client: RawClient) -> None:
    """Well-framed messages with random types, fields and values, plus random byte noise: every
    one is answered or ignored, the session stays usable, and the server logs no traceback."""
    rng = random.Random(6)
    for _ in range(400):
        body = new_order(uid())
        for _ in range(rng.randint(0, 4)):
            what = rng.random()
            if what < 0.4:
                body[rng.randrange(len(body))] = (rng.choice(FUZZ_TAGS), rng.choice(FUZZ_VALUES))
            elif what < 0.7 and body:
                body.pop(rng.randrange(len(body)))
            else:
                body.append((rng.choice(FUZZ_TAGS), rng.choice(FUZZ_VALUES)))
        kind = rng.choice(FUZZ_TYPES) if rng.random() < 0.5 else t.NEW_ORDER_SINGLE
        data = client.message(kind, body)
        if rng.random() < 0.1:  # one byte changed: always garbled (ignored), so its MsgSeqNum is used again
            noisy = bytearray(data)
            at = rng.randrange(len(noisy))
            noisy[at] = (noisy[at] + rng.randrange(1, 256)) % 256
            data = bytes(noisy) + rng.randbytes(rng.randint(0, 20))  # and garbage between messages
            client.seq -= 1
        try:
            client.send_raw(data)
            closed = client.drain()
        except OSError:
            closed = True
        if closed:  # logged out (a fuzzed message can be a reason to): log on again
            client.close()
            client = connect(fix_server)
    client.send_raw(b"8=FIX.4.4\x019=70000\x01" + b"x" * 1000)  # oversized BodyLength
    client.close()
    again = connect(fix_server)  # the gateway still serves: log on and trade
    again.send(t.NEW_ORDER_SINGLE, new_order(a := uid()))
    assert again.expect({t.ClOrdID: a, t.ExecType: "0"}).fields[t.OrdStatus_] == "0"
    again.close()
    assert httpx.get(fix_server.url + "/health").status_code == 200
    log = fix_server.log.read_text()
    assert "Traceback" not in log and "unexpected error" not in log
    assert log.count("rejecting seq") > 30  # the fuzz reached the session layer and the order mapping


def test_cancel_naming_the_wrong_side_or_symbol_is_refused(client: RawClient) -> None:
    client.send(t.NEW_ORDER_SINGLE, new_order(a := uid()))
    client.expect({t.ClOrdID: a, t.ExecType: "0"})
    client.send(t.ORDER_CANCEL_REQUEST, [(t.OrigClOrdID, a), (t.ClOrdID, a + "C"), (t.Symbol, "MSFT"), (t.Side_, "1"),
                                         (t.TransactTime, "20261126-12:00:00")])
    reject = client.expect({t.MsgType: t.ORDER_CANCEL_REJECT})
    assert (reject.fields[t.ClOrdID], reject.fields[t.CxlRejReason], reject.fields[t.OrdStatus_]) == (a + "C", "99", "0")
    assert "do not match" in reject.fields[t.Text]


def test_a_possible_resend_of_a_known_order_gets_its_status_not_a_duplicate_reject(client: RawClient) -> None:
    client.send(t.NEW_ORDER_SINGLE, new_order(a := uid()))
    order_id = client.expect({t.ClOrdID: a, t.ExecType: "0"}).fields[t.OrderID]
    client.send(t.NEW_ORDER_SINGLE, [*new_order(a), (t.PossResend, "Y")])
    status = client.expect({t.ClOrdID: a, t.ExecType: "I"})
    assert (status.fields[t.OrderID], status.fields[t.OrdStatus_]) == (order_id, "0")
    client.send(t.NEW_ORDER_SINGLE, [*new_order(b := uid()), (t.PossResend, "Y")])  # never seen: a new order
    assert client.expect({t.ClOrdID: b, t.ExecType: "0"}).fields[t.OrdStatus_] == "0"
