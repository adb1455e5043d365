"""FIX framing and parsing: what is a message, what is garbled, and nothing ever raises."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import simplefix
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from simplefix.data import RAW_DATA_TAGS, RAW_LEN_TAGS

from openoms.fix import codec
from openoms.fix import tags as t
from openoms.fix.codec import Framer, Garbled
from openoms.fix.session import FixSession, SessionIdentity
from openoms.fix.store import SessionStore

T0 = 1_790_000_000_000_000_000


def order(seq: int = 2, cl_ord_id: str = "A1") -> bytes:
    return codec.encode(t.NEW_ORDER_SINGLE, "CLIENT", "OPENOMS", seq, codec.utc_timestamp(T0),
                        [(t.ClOrdID, cl_ord_id), (t.Symbol, "AAPL"), (t.Side_, "1"), (t.OrderQty, "100")])


def frames(data: bytes, chunk: int = 0) -> list[bytes | Garbled]:
    framer = Framer()
    out: list[bytes | Garbled] = []
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] if chunk else [data]
    for piece in pieces:
        framer.feed(piece)
        out.extend(framer.frames())
    return out


def test_a_message_round_trips_with_body_length_and_checksum() -> None:
    raw = order()
    [frame] = frames(raw)
    message = codec.parse(frame)
    assert message.msg_type == "D" and message.seq == 2 and message.fields[t.ClOrdID] == "A1"
    assert message.fields[t.BodyLength] == str(len(raw) - raw.index(b"35=") - 7)


def test_messages_split_across_reads_are_reassembled() -> None:
    data = order(2, "A") + order(3, "B")
    for chunk in (1, 3, 7, 50):
        assert [codec.parse(f).fields[t.ClOrdID] for f in frames(data, chunk) if isinstance(f, bytes)] == ["A", "B"]


def test_bad_checksum_is_garbled_and_the_next_message_still_reads() -> None:
    bad = bytearray(order(2, "A"))
    bad[-4:-1] = b"000" if bad[-4:-1] != b"000" else b"001"
    out = frames(bytes(bad) + order(3, "B"))
    assert isinstance(out[0], Garbled) and "CheckSum" in out[0].reason
    assert codec.parse(out[1]).fields[t.ClOrdID] == "B"  # type: ignore[arg-type]


def test_wrong_body_length_is_garbled() -> None:
    raw = order().replace(b"\x019=", b"\x019=1", 1)
    out = frames(raw + order(3, "B"))
    assert isinstance(out[0], Garbled)
    assert [codec.parse(f).fields[t.ClOrdID] for f in out if isinstance(f, bytes)] == ["B"]


def test_garbage_before_a_message_is_skipped() -> None:
    out = frames(b"\x00\xffhello 8=FI" + order())
    assert isinstance(out[0], Garbled) and isinstance(out[-1], bytes)


def test_oversized_body_length_is_garbled_not_buffered() -> None:
    out = frames(b"8=FIX.4.4\x019=99999999\x0135=D\x01")
    assert out and isinstance(out[0], Garbled)


def test_empty_values_repeated_tags_and_bad_tags_are_recorded() -> None:
    raw = codec.encode("D", "C", "O", 2, codec.utc_timestamp(T0), [(t.ClOrdID, ""), (t.Symbol, "A"), (t.Symbol, "B")])
    message = codec.parse(raw)
    assert message.empty == [t.ClOrdID] and message.repeated == {t.Symbol}
    body = b"35=D\x0134=2\x01x1=2\x01"
    head = b"8=FIX.4.4\x019=%d\x01" % len(body)
    framed = head + body + b"10=%03d\x01" % (sum(head + body) % 256)
    bad = codec.parse(framed)
    assert bad.bad_tag is not None and bad.seq == 2
    for key, tag in ((b"\xb2", "\u00b2"), (b"-1", "-1"), (b"", "")):  # latin-1 superscript two is a digit to str.isdigit
        body = b"35=D\x0134=2\x01%s=2\x01" % key
        head = b"8=FIX.4.4\x019=%d\x01" % len(body)
        assert codec.parse(head + body + b"10=%03d\x01" % (sum(head + body) % 256)).bad_tag == tag
    assert codec.parse(b"8=FIX.4.4\x019=5\x0100035=D\x0110=000\x01").fields[t.MsgType] == "D"  # leading zeros: still tag 35


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SessionStore]:
    store = SessionStore(tmp_path_factory.mktemp("fuzz") / "s.sqlite")
    yield store
    store.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.binary(max_size=40), st.sampled_from([order(), b"8=FIX.4.4\x019=", b"\x0110=", b"=\x01"])),
                max_size=8), st.integers(min_value=1, max_value=64))
def test_fuzz_raw_bytes_never_crash_the_framer_parser_or_session(fuzz_store: SessionStore, pieces: list[bytes], chunk: int) -> None:
    data = b"".join(pieces)
    session = FixSession(SessionIdentity("OPENOMS", "CLIENT"), fuzz_store, lambda: T0)
    session.connection_made()
    logon = codec.encode(t.LOGON, "CLIENT", "OPENOMS", 1, codec.utc_timestamp(T0),
                         [(t.EncryptMethod, "0"), (t.HeartBtInt, "30"), (t.ResetSeqNumFlag, "Y")])
    for frame in frames(logon + data, chunk):
        if isinstance(frame, bytes):
            session.receive(codec.parse(frame))


_values = st.text(st.characters(min_codepoint=32, max_codepoint=255, blacklist_characters="\x7f"), min_size=1, max_size=20)
_tags = st.integers(min_value=1, max_value=20000).filter(lambda tag: tag not in (8, 9, 10, 35, 49, 56, 34, 52, 43, 122)
                                                         and tag not in RAW_LEN_TAGS and tag not in RAW_DATA_TAGS)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_tags, _values), max_size=15), st.sampled_from(["D", "8", "AF"]), st.integers(1, 10**9))
def test_encode_and_parse_agree_with_simplefix_byte_for_byte(body: list[tuple[int, str]], msg_type: str, seq: int) -> None:
    ours = codec.encode(msg_type, "OPENOMS", "CLIENT", seq, "20261126-12:00:00.000", body)
    reference = simplefix.FixMessage()
    reference.append_pair(8, "FIX.4.4")
    reference.append_pair(35, msg_type)
    for tag, value in [(49, "OPENOMS"), (56, "CLIENT"), (34, str(seq)), (52, "20261126-12:00:00.000"), *body]:
        reference.append_pair(tag, value.encode("latin-1"))
    assert ours == reference.encode()
    parser = simplefix.FixParser()
    parser.append_buffer(ours)
    expected = [(int(tag), value.decode("latin-1")) for tag, value in parser.get_message().pairs]
    assert codec.parse(ours).pairs == expected
    prefix = codec.header_prefix(msg_type, "OPENOMS", "CLIENT")
    assert codec.encode_prefixed(prefix, seq, "20261126-12:00:00.000", codec.encode_body(body)) == ours


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 4_102_444_800 * 10**9 - 1), min_size=1, max_size=6), st.integers(0, 999_999_999))
def test_timestamps_parse_to_what_they_say_whatever_was_parsed_before(moments: list[int], nudge: int) -> None:
    # The parser remembers the last date and time to the second: same second, other second, and
    # invalid text in between must all still parse exactly.
    for ns in [*moments, moments[0] - moments[0] % 10**9 + nudge]:
        text = codec.utc_timestamp(ns)
        assert codec.parse_utc_timestamp(text) == ns - ns % 1_000_000
        assert codec.parse_utc_timestamp(text[:17]) == ns - ns % 10**9
        assert codec.parse_utc_timestamp(text[:17] + ".123456789") == ns - ns % 10**9 + 123_456_789
        assert codec.parse_utc_timestamp(text[:6] + "32" + text[8:]) is None  # day 32 never exists


def test_raw_data_fields_may_hold_soh() -> None:
    raw = codec.encode("D", "C", "O", 2, codec.utc_timestamp(T0), [(t.ClOrdID, "A"), (95, "3"), (96, "a\x01b"), (t.Symbol, "X")])
    message = codec.parse(raw)
    assert message.fields[96] == "a\x01b" and message.fields[t.Symbol] == "X"


def test_a_timestamp_in_the_remembered_second_is_still_checked_whole() -> None:
    # The second just parsed is remembered; what follows it must still be a valid fraction.
    second = codec.utc_timestamp(T0)[:17]
    whole = codec.parse_utc_timestamp(second)
    assert whole == T0 - T0 % 10**9
    for bad in (".", ".1234567890", ".12a", "x", ".-1", ". 1", "0"):
        assert codec.parse_utc_timestamp(second + bad) is None, bad
    assert codec.parse_utc_timestamp(second + ".5") == whole + 500_000_000
    assert codec.parse_utc_timestamp(second + ".000000001") == whole + 1
    assert codec.parse_utc_timestamp(second + ".٣") == whole + 300_000_000  # as the pattern's \d reads it
