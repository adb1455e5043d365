"""The stream cursor: where a client reconnects and which messages it hands on (no sockets)."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from openoms.client import OmsProtocolError
from openoms.client.stream import StreamCursor, StreamGap


def message(**fields: object) -> bytes:
    return msgspec.json.encode(fields)


def test_the_first_connection_asks_for_a_snapshot_and_a_reconnection_resumes_from_the_last_seq() -> None:
    cursor = StreamCursor()
    assert cursor.url("http://127.0.0.1:8000") == "ws://127.0.0.1:8000/api/v1/stream"
    cursor.accept(message(type="snapshot", seq=10, epoch="e1", orders=[]))
    cursor.accept(message(type="order", seq=12, order={"order_id": "O1"}))
    assert cursor.url("https://oms.example/base/") == "wss://oms.example/base/api/v1/stream?from_seq=12&epoch=e1"


def test_updates_already_held_are_dropped_whether_the_server_resends_from_or_after_the_seq() -> None:
    cursor = StreamCursor(last_seq=5)
    assert cursor.accept(message(type="event", seq=5)) is None
    got = cursor.accept(message(type="event", seq=6, last_px="230.01"))
    assert got is not None and got.seq == 6 and got.data["last_px"] == "230.01"
    assert cursor.accept(message(type="event", seq=6)) is None


def test_a_prev_beyond_the_last_seq_held_is_a_gap_to_resume_from() -> None:
    cursor = StreamCursor()
    cursor.accept(message(type="snapshot", seq=3))
    assert cursor.accept(message(type="order", seq=7, prev=3)) is not None  # sparse numbers, nothing missed
    with pytest.raises(StreamGap, match=r"8\.\.9"):
        cursor.accept(message(type="order", seq=11, prev=9))
    assert cursor.last_seq == 7  # resume from what is held


def test_a_new_epoch_means_a_restarted_server_whose_numbers_start_again() -> None:
    cursor = StreamCursor()
    cursor.accept(message(type="snapshot", seq=500, epoch="before"))
    snapshot = cursor.accept(message(type="snapshot", seq=2, epoch="after"))
    assert snapshot is not None and cursor.last_seq == 2 and cursor.epoch == "after"


def test_unnumbered_messages_pass_and_numbers_stay_decimal() -> None:
    cursor = StreamCursor(last_seq=9)
    quotes = cursor.accept(b'{"type": "quotes", "quotes": [{"symbol": "AAPL", "last": 230.1}]}')
    assert quotes is not None and quotes.seq is None and quotes.data["quotes"][0]["last"] == Decimal("230.1")
    assert cursor.last_seq == 9


def test_what_is_not_a_stream_message_is_a_protocol_error() -> None:
    with pytest.raises(OmsProtocolError, match="not JSON"):
        StreamCursor().accept(b"hello")
    with pytest.raises(OmsProtocolError, match="without a type"):
        StreamCursor().accept(b'{"seq": 1}')
