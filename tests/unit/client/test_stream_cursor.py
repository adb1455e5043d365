"""The stream cursor: what a client subscribes with, and which messages it hands on (no sockets)."""

from __future__ import annotations

import json
from decimal import Decimal

import msgspec
import pytest

from openoms.client import OmsProtocolError, Unauthorized
from openoms.client.stream import StreamCursor, StreamGap


def message(**fields: object) -> bytes:
    return msgspec.json.encode(fields)


def test_the_first_connection_asks_for_a_snapshot_and_a_reconnection_resumes_from_the_last_seq() -> None:
    cursor = StreamCursor()
    assert cursor.url("http://127.0.0.1:8000") == "ws://127.0.0.1:8000/api/v1/stream"
    assert cursor.url("https://oms.example/base/") == "wss://oms.example/base/api/v1/stream"
    assert json.loads(cursor.subscribe("tok")) == {"type": "subscribe", "token": "tok", "resume": None}
    cursor.accept(message(type="snapshot", seq=10, epoch="e1", orders=[]))
    cursor.accept(message(type="order", seq=12, prev=10, order={"order_id": "O1"}))
    assert json.loads(cursor.subscribe(None)) == {"type": "subscribe", "token": None, "resume": {"epoch": "e1", "seq": 12}}


def test_updates_already_held_are_dropped_whether_the_server_resends_from_or_after_the_seq() -> None:
    cursor = StreamCursor(last_seq=5)
    assert cursor.accept(message(type="event", seq=5)) == []
    got = cursor.accept(message(type="event", seq=6, last_px="230.01"))
    assert [m.seq for m in got] == [6] and got[0].data["last_px"] == "230.01"
    assert cursor.accept(message(type="event", seq=6)) == []


def test_a_frame_carrying_several_messages_is_unpacked_in_order() -> None:
    cursor = StreamCursor(last_seq=1)
    frame = b'[{"seq": 2, "prev": 1, "type": "order"}, {"type": "pong"}, {"type": "quotes", "quotes": []}, {"seq": 3, "prev": 2, "type": "execution"}]'
    assert [(m.type, m.seq) for m in cursor.accept(frame)] == [("order", 2), ("quotes", None), ("execution", 3)]
    assert cursor.last_seq == 3


def test_a_prev_beyond_the_last_seq_held_is_a_gap_to_resume_from() -> None:
    cursor = StreamCursor()
    cursor.accept(message(type="snapshot", seq=3))
    assert cursor.accept(message(type="order", seq=7, prev=3)) != []  # sparse numbers, nothing missed
    with pytest.raises(StreamGap, match=r"8\.\.9"):
        cursor.accept(message(type="order", seq=11, prev=9))
    assert cursor.last_seq == 7  # resume from what is held


def test_the_servers_refusals_raise_or_resume() -> None:
    cursor = StreamCursor(last_seq=40, epoch="e")
    with pytest.raises(StreamGap, match="too far behind"):
        cursor.accept(message(type="error", code="SLOW_CONSUMER", resume_seq=40, message="too far behind"))
    assert cursor.last_seq == 40  # resumed from there
    with pytest.raises(StreamGap):
        cursor.accept(message(type="error", code="ENTITLEMENTS_CHANGED", message="your accounts changed"))
    assert cursor.last_seq is None  # a fresh snapshot of what the user now sees
    with pytest.raises(Unauthorized, match="SESSION_ENDED"):
        cursor.accept(message(type="error", code="SESSION_ENDED", message="sign in again"))
    with pytest.raises(OmsProtocolError, match="BAD_SUBSCRIBE"):
        cursor.accept(message(type="error", code="BAD_SUBSCRIBE", message="first send a subscribe"))


def test_a_new_epoch_means_a_restarted_server_whose_numbers_start_again() -> None:
    cursor = StreamCursor()
    cursor.accept(message(type="snapshot", seq=500, epoch="before"))
    snapshot = cursor.accept(message(type="snapshot", seq=2, epoch="after"))
    assert snapshot != [] and cursor.last_seq == 2 and cursor.epoch == "after"


def test_unnumbered_messages_pass_and_numbers_stay_decimal() -> None:
    cursor = StreamCursor(last_seq=9)
    quotes = cursor.accept(b'{"type": "quotes", "quotes": [{"symbol": "AAPL", "last": 230.1}]}')
    assert len(quotes) == 1 and quotes[0].seq is None and quotes[0].data["quotes"][0]["last"] == Decimal("230.1")
    assert cursor.last_seq == 9


def test_what_is_not_a_stream_message_is_a_protocol_error() -> None:
    with pytest.raises(OmsProtocolError, match="not JSON"):
        StreamCursor().accept(b"hello")
    with pytest.raises(OmsProtocolError, match="without a type"):
        StreamCursor().accept(b'{"seq": 1}')
    with pytest.raises(OmsProtocolError, match="not an object"):
        StreamCursor().accept(b"[1, 2]")
