"""Session settings through `oms serve`: sent-message pruning, and holiday closing.

Sent-message pruning with a real FIX engine: a session configured with ``resend_keep = 3``
keeps only its last three application messages for resends. QuickFIX (keeping its sequence
numbers across logons) goes away, misses six reports (its orders canceled over REST), logs on
again and asks for everything it missed: the OMS gap-fills what it no longer holds and resends
the last three (PossDupFlag=Y); QuickFIX accepts that without a Reject and the session carries on.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fixharness import FixServer, Peer
from rawclient import RawClient

from openoms.fix import tags as t


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FixServer]:
    base = tmp_path_factory.mktemp("keep")
    config = base / "oms.toml"
    today = datetime.now(UTC).date()
    config.write_text(f"""
[[fix.sessions]]
sender_comp_id = "KEEP-CLIENT"
target_comp_id = "OPENOMS"
accounts = ["ACC-EQ-1"]
resend_keep = 3

[[fix.sessions]]
sender_comp_id = "HOLIDAY-CLIENT"
start_utc = "00:00"
end_utc = "00:00"
holidays = ["{today}", "{today + timedelta(days=1)}"]
""")
    started = FixServer(base / "oms-data", config).start()
    try:
        yield started
    finally:
        started.stop()


def test_quickfix_resend_beyond_the_kept_messages_is_gap_filled(server: FixServer, tmp_path: Path) -> None:
    store = str(tmp_path / "quickfix")
    prefix = uuid.uuid4().hex[:8]
    first = Peer(server.fix_port, "KEEP-CLIENT", "OPENOMS", "--no-reset", "--log-dir", store)
    order_ids = []
    for n in range(3):
        first.send("D", ClOrdID=f"{prefix}-{n}", Symbol="AAPL", Side="1", OrderQty="100", OrdType="2", Price="100.00",
                   TimeInForce="0")
        order_ids.append(first.expect(ClOrdID=f"{prefix}-{n}", ExecType="0")["OrderID"])
    assert first.close() == 0
    with server.client() as rest:
        for order_id in order_ids:  # PendingCancel and Canceled for each: six reports sent while it is away
            assert rest.post(f"/api/v1/orders/{order_id}/cancel").status_code == 202
        for order_id in order_ids:
            assert rest.get(f"/api/v1/orders/{order_id}").json()["order"]["status"] == "canceled"

    second = Peer(server.fix_port, "KEEP-CLIENT", "OPENOMS", "--no-reset", "--log-dir", store)
    resent = [second.expect(PossDupFlag="Y") for _ in range(3)]
    seqs = [int(report["MsgSeqNum"]) for report in resent]
    assert seqs == list(range(seqs[0], seqs[0] + 3))  # the last three, in order, after the gap fill
    assert all(r["OrderID"] in order_ids and r["ExecType"] in ("6", "4") for r in resent)
    assert resent[-1]["ExecType"] == "4"  # the last one sent was a cancel confirmation
    # ... and nothing older came again: the first three of the six missed were gap-filled
    assert not [e for e in second.seen if e["event"] == "recv" and e["fields"].get("PossDupFlag") == "Y"
                and int(e["fields"]["MsgSeqNum"]) < seqs[0]]
    # the session goes on in sequence: a new order is answered right after the Logon
    second.send("D", ClOrdID=f"{prefix}-new", Symbol="AAPL", Side="1", OrderQty="100", OrdType="2", Price="100.00",
                TimeInForce="0")
    pending = second.expect(ClOrdID=f"{prefix}-new", ExecType="A")
    assert int(pending["MsgSeqNum"]) > seqs[-1]
    assert second.close() == 0
    with httpx.Client(base_url=server.url, timeout=10) as rest:
        order = rest.get(f"/api/v1/orders/{pending['OrderID']}").json()["order"]
        assert order["cl_ord_id"] == f"{prefix}-new"


def test_a_logon_on_a_holiday_is_refused_with_the_reason(server: FixServer) -> None:
    client = RawClient(server.fix_port, sender="HOLIDAY-CLIENT")
    client.send(t.LOGON, [(t.EncryptMethod, "0"), (t.HeartBtInt, "30")])
    answer = client.expect(lambda m: m.msg_type == t.LOGOUT)
    assert answer.fields[t.Text].startswith("closed on ") and "(holiday)" in answer.fields[t.Text]
    client.close()
