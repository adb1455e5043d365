"""The sans-I/O FIX session: sequence numbers, resends, gap fills, rejects, logout rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from openoms.fix import codec
from openoms.fix import tags as t
from openoms.fix.codec import FixMessage
from openoms.fix.schedule import Schedule
from openoms.fix.session import FixSession, SessionIdentity
from openoms.fix.store import SessionStore

OURS, THEIRS = "OPENOMS", "CLIENT"
T0 = 1_790_000_000_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def message(msg_type: str, seq: int, body: list[tuple[int, str]] | None = None, sender: str = THEIRS,
            target: str = OURS, poss_dup: bool = False, orig: str | None = None) -> FixMessage:
    raw = codec.encode(msg_type, sender, target, seq, codec.utc_timestamp(T0), body or [], poss_dup=poss_dup,
                       orig_sending_time=orig)
    return codec.parse(raw)


def sent(session: FixSession) -> list[FixMessage]:
    out = [codec.parse(frame) for frame in session.outbox]
    session.outbox.clear()
    return out


def new_session(path: Path, clock: Clock | None = None) -> FixSession:
    session = FixSession(SessionIdentity(OURS, THEIRS), SessionStore(path / "fix.sqlite"), clock or Clock())
    session.connection_made()
    return session


def logged_on(path: Path, reset: bool = True) -> FixSession:
    session = new_session(path)
    body = [(t.EncryptMethod, "0"), (t.HeartBtInt, "30")] + ([(t.ResetSeqNumFlag, "Y")] if reset else [])
    session.receive(message(t.LOGON, 1, body))
    assert [m.msg_type for m in sent(session)] == [t.LOGON]
    return session


def test_logon_is_answered_and_sequence_numbers_start_at_one(tmp_path: Path) -> None:
    session = new_session(tmp_path)
    session.receive(message(t.LOGON, 1, [(t.EncryptMethod, "0"), (t.HeartBtInt, "30"), (t.ResetSeqNumFlag, "Y")]))
    [logon] = sent(session)
    assert logon.fields[t.MsgSeqNum] == "1" and logon.fields[t.ResetSeqNumFlag] == "Y" and logon.fields[t.HeartBtInt] == "30"
    assert session.logged_on and (session.next_in, session.next_out) == (2, 2)


def test_first_message_not_logon_disconnects_without_answer(tmp_path: Path) -> None:
    session = new_session(tmp_path)
    assert session.receive(message(t.NEW_ORDER_SINGLE, 1)) == []
    assert session.disconnect and sent(session) == []


def test_logon_with_bad_heartbeat_is_logged_out(tmp_path: Path) -> None:
    session = new_session(tmp_path)
    session.receive(message(t.LOGON, 1, [(t.EncryptMethod, "0"), (t.HeartBtInt, "x")]))
    [logout] = sent(session)
    assert logout.msg_type == t.LOGOUT and "HeartBtInt" in logout.fields[t.Text] and session.disconnect


def test_application_messages_in_sequence_are_delivered(tmp_path: Path) -> None:
    session = logged_on(tmp_path)
    [app] = session.receive(message(t.NEW_ORDER_SINGLE, 2, [(t.ClOrdID, "A")]))
    assert app.fields[t.ClOrdID] == "A" and session.next_in == 3


def test_gap_asks_for_a_resend_and_queues_until_it_is_filled(tmp_path: Path) -> None:
    session = logged_on(tmp_path)
    assert session.receive(message(t.NEW_ORDER_SINGLE, 4, [(t.ClOrdID, "C")])) == []
    [resend] = sent(session)
    assert resend.msg_type == t.RESEND_REQUEST and resend.fields[t.BeginSeqNo] == "2" and resend.fields[t.EndSeqNo] == "0"
    # the counterparty resends 2 and gap-fills 3; then 4 comes out of the queue
    first = session.receive(message(t.NEW_ORDER_SINGLE, 2, [(t.ClOrdID, "A")], poss_dup=True, orig=codec.utc_timestamp(T0)))
    rest = session.receive(message(t.SEQUENCE_RESET, 3, [(t.GapFillFlag, "Y"), (t.NewSeqNo, "4")], poss_dup=True,
                                   orig=codec.utc_timestamp(T0)))
    assert [m.fields[t.ClOrdID] for m in first + rest] == ["A", "C"]
    assert session.next_in == 5 and sent(session) == []


def test_a_logon_ahead_of_sequence_asks_for_the_gap_once_until_it_is_filled(tmp_path: Path) -> None:
    session = logged_on(tmp_path)
    session.receive(message(t.NEW_ORDER_SINGLE, 2, [(t.ClOrdID, "A")]))
    session.connection_lost()
    session.connection_made()
    session.receive(message(t.LOGON, 5, [(t.EncryptMethod, "0"), (t.HeartBtInt, "30")]))  # we expected 3
    assert [(m.msg_type, m.fields.get(t.BeginSeqNo)) for m in sent(session)] == [(t.LOGON, None), (t.RESEND_REQUEST, "3")]
    session.receive(message(t.TEST_REQUEST, 6, [(t.TestReqID, "T")]))  # still inside the gap being filled
    assert sent(session) == []
    out = session.receive(message(t.SEQUENCE_RESET, 3, [(t.GapFillFlag, "Y"), (t.NewSeqNo, "6")], poss_dup=True,
                                  orig=codec.utc_timestamp(T0)))
    assert out == [] and session.next_in == 7
    assert [(m.msg_type, m.fields.get(t.TestReqID)) for m in sent(session)] == [(t.HEARTBEAT, "T")]
    session.receive(message(t.NEW_ORDER_SINGLE, 9, [(t.ClOrdID, "B")]))  # a new gap: a new request
    [again] = sent(session)
    assert again.msg_type == t.RESEND_REQUEST and again.fields[t.BeginSeqNo] == "7"


def test_sequence_number_too_low_without_poss_dup_logs_out(tmp_path: Path) -> None:
    session = logged_on(tmp_path)
    session.receive(message(t.HEARTBEAT, 2))
    session.receive(message(t.HEARTBEAT, 2))
    [logout] = sent(session)
    assert logout.msg_type == t.LOGOUT and "MsgSeqNum too low, expecting 3 but received 2" in logout.fields[t.Text]
    assert session.disconnect


def test_poss_dup_below_expected_is_ignored_and_without_orig_sending_time_rejected(tmp_path: Path) -> None:
    session = logged_on(tmp_path)
    session.receive(message(t.NEW_ORDER_SINGLE, 2, [(t.ClOrdID, "A")]))
    assert session.receive(message(t.NEW_ORDER_SINGLE, 2, [(t.ClOrdID, "A")], poss_dup=True,
                                   orig=codec.utc_timestamp(T0))) == []
    assert sent(session) == [] and not session.disconnect
    session.receive(message(t.NEW_ORDER_SINGLE, 2, [(t.ClOrdID, "A")], poss_dup=True))
    [reject] = sent(session)
    assert reject.msg_type == t.REJECT and reject.fields[t.SessionRejectReason] == "1" and reject.fields[t.RefTagID] == "122"


def test_resend_request_resends_application_messages_and_gap_fills_admin_ones(tmp_path: Path) -> None:
    session = logged_on(tmp_path)  # our seq 1 was the Logon
    session.send_app(t.EXECUTION_REPORT, [(t.ClOrdID, "A")])  # 2
    session.receive(message(t.TEST_REQUEST, 2, [(t.TestReqID, "T")]))  # our heartbeat: 3
    session.send_app(t.EXECUTION_REPORT, [(t.ClOrdID, "B")])  # 4
    sent(session)
    session.receive(message(t.RESEND_REQUEST, 3, [(t.BeginSeqNo, "1"), (t.EndSeqNo, "0")]))
    out = sent(session)
    assert [(m.msg_type, m.seq) for m in out] == [("4", 1), ("8", 2), ("4", 3), ("8", 4)]
    gap1, report_a, gap3, report_b = out
    assert gap1.fields[t.GapFillFlag] == "Y" and gap1.fields[t.NewSeqNo] == "2"
    assert gap3.fields[t.NewSeqNo] == "4"
    assert report_a.fields[t.ClOrdID] == "A" and report_a.fields[t.PossDupFlag] == "Y" and t.OrigSendingTime in report_a.fields
    assert report_b.fields[t.ClOrdID] == "B" and session.next_out == 5


@pytest.mark.parametrize("keep", [1, 5, 30])
def test_sent_messages_beyond_the_kept_count_are_pruned_and_gap_filled_on_resend(tmp_path: Path, keep: int) -> None:
    session = logged_on(tmp_path)  # our seq 1 was the Logon
    session.store.keep_sent(session.key, keep)
    for n in range(2, 52):  # reports 2..51, committed one by one as the gateway does
        session.send_app(t.EXECUTION_REPORT, [(t.ClOrdID, f"C{n}")])
        session.store.flush()
    stored = [seq for seq, *_ in session.store.outbound(session.key, 1, 100)]
    # the last ``keep`` are always there; older ones go at most a tenth of ``keep`` late
    assert stored[-keep:] == list(range(52 - keep, 52)) and len(stored) <= keep + max(1, keep // 10)
    sent(session)
    session.receive(message(t.RESEND_REQUEST, 2, [(t.BeginSeqNo, "1"), (t.EndSeqNo, "0")]))
    out = sent(session)
    gap, *resent = out
    assert (gap.msg_type, gap.seq, gap.fields[t.GapFillFlag], gap.fields[t.NewSeqNo]) == ("4", 1, "Y", str(stored[0]))
    assert [(m.seq, m.fields[t.ClOrdID], m.fields[t.PossDupFlag]) for m in resent] == [(seq, f"C{seq}", "Y") for seq in stored]
    # a request inside the kept window is answered with the messages alone
    session.receive(message(t.RESEND_REQUEST, 3, [(t.BeginSeqNo, "51"), (t.EndSeqNo, "51")]))
    assert [(m.msg_type, m.seq) for m in sent(session)] == [("8", 51)]


def test_keeping_everything_is_the_default_and_zero_restores_it(tmp_path: Path) -> None:
    session = logged_on(tmp_path)
    session.store.keep_sent(session.key, 2)
    session.store.keep_sent(session.key, 0)
    for n in range(2, 12):
        session.send_app(t.EXECUTION_REPORT, [(t.ClOrdID, f"C{n}")])
        session.store.flush()
    assert [seq for seq, *_ in session.store.outbound(session.key, 1, 100)] == list(range(2, 12))


def test_sequence_numbers_and_sent_messages_survive_a_restart(tmp_path: Path) -> None:
    session = logged_on(tmp_path)
    session.receive(message(t.NEW_ORDER_SINGLE, 2, [(t.ClOrdID, "A")]))
    session.send_app(t.EXECUTION_REPORT, [(t.ClOrdID, "A")])
    session.connection_lost()
    session.store.close()
    again = new_session(tmp_path)
    assert (again.next_in, again.next_out) == (3, 3)
    again.receive(message(t.LOGON, 3, [(t.EncryptMethod, "0"), (t.HeartBtInt, "30")]))
    again.receive(message(t.RESEND_REQUEST, 4, [(t.BeginSeqNo, "2"), (t.EndSeqNo, "2")]))
    out = sent(again)
    assert [(m.msg_type, m.seq) for m in out] == [("A", 3), ("8", 2)]
    assert out[1].fields[t.ClOrdID] == "A" and out[1].fields[t.PossDupFlag] == "Y"


def test_logon_below_the_expected_sequence_number_is_refused(tmp_path: Path) -> None:
    session = logged_on(tmp_path)
    session.receive(message(t.HEARTBEAT, 2))
    session.connection_lost()
    session.connection_made()
    session.receive(message(t.LOGON, 2, [(t.EncryptMethod, "0"), (t.HeartBtInt, "30")]))
    [logout] = sent(session)
    assert logout.msg_type == t.LOGOUT and "too low" in logout.fields[t.Text] and not session.logged_on


def test_sequence_reset_moves_forward_only(tmp_path: Path) -> None:
    session = logged_on(tmp_path)
    session.receive(message(t.SEQUENCE_RESET, 99, [(t.NewSeqNo, "10")]))  # reset mode: seq ignored
    assert session.next_in == 10
    session.receive(message(t.SEQUENCE_RESET, 10, [(t.NewSeqNo, "5")]))
    [reject] = sent(session)
    assert reject.fields[t.SessionRejectReason] == "5" and reject.fields[t.RefTagID] == "36" and session.next_in == 10


@pytest.mark.parametrize(
    ("mutate", "reason", "tag"),
    [
        (lambda b: b.replace(b"\x0152=", b"\x0152=x"), "6", "52"),  # SendingTime not a timestamp
        (lambda b: b.replace(b"\x0149=CLIENT", b"\x0149=OTHER"), "9", "49"),  # CompID problem
    ],
)
def test_header_problems_are_rejected_with_the_right_reason(tmp_path: Path, mutate: object, reason: str, tag: str) -> None:
    session = logged_on(tmp_path)
    raw = codec.encode(t.HEARTBEAT, THEIRS, OURS, 2, codec.utc_timestamp(T0), [])
    session.receive(codec.parse(mutate(raw)))  # type: ignore[operator]
    reject = sent(session)[0]
    assert reject.msg_type == t.REJECT and reject.fields[t.SessionRejectReason] == reason and reject.fields[t.RefTagID] == tag
    assert session.next_in == 3  # a rejected message still uses up its sequence number


def test_wrong_begin_string_logs_out(tmp_path: Path) -> None:
    session = logged_on(tmp_path)
    raw = codec.encode(t.HEARTBEAT, THEIRS, OURS, 2, codec.utc_timestamp(T0), []).replace(b"8=FIX.4.4", b"8=FIX.4.2")
    session.receive(codec.parse(raw))
    [logout] = sent(session)
    assert logout.msg_type == t.LOGOUT and "BeginString" in logout.fields[t.Text] and session.disconnect


def test_invalid_msg_type_is_rejected(tmp_path: Path) -> None:
    session = logged_on(tmp_path)
    assert session.receive(message("ZZ", 2)) == []
    [reject] = sent(session)
    assert reject.fields[t.SessionRejectReason] == "11" and reject.fields[t.RefMsgType] == "ZZ"


def test_test_request_is_answered_and_silence_brings_one(tmp_path: Path) -> None:
    clock = Clock()
    session = FixSession(SessionIdentity(OURS, THEIRS), SessionStore(tmp_path / "fix.sqlite"), clock)
    session.connection_made()
    session.receive(message(t.LOGON, 1, [(t.EncryptMethod, "0"), (t.HeartBtInt, "30"), (t.ResetSeqNumFlag, "Y")]))
    session.receive(message(t.TEST_REQUEST, 2, [(t.TestReqID, "PING")]))
    assert [(m.msg_type, m.fields.get(t.TestReqID)) for m in sent(session)] == [("A", None), ("0", "PING")]
    clock.now += 37 * 1_000_000_000  # more than HeartBtInt * 1.2 of silence
    session.timer(clock.now)
    [test] = sent(session)
    assert test.msg_type == t.TEST_REQUEST
    clock.now += 31 * 1_000_000_000
    session.timer(clock.now)
    assert session.disconnect  # no answer to the TestRequest


def test_logout_is_answered_and_closes(tmp_path: Path) -> None:
    session = logged_on(tmp_path)
    session.receive(message(t.LOGOUT, 2))
    [logout] = sent(session)
    assert logout.msg_type == t.LOGOUT and session.disconnect


def test_resend_request_ahead_of_a_gap_is_answered_at_once_and_only_once(tmp_path: Path) -> None:
    session = logged_on(tmp_path)
    session.send_app(t.EXECUTION_REPORT, [(t.ClOrdID, "A")])  # our 2
    sent(session)
    session.receive(message(t.RESEND_REQUEST, 3, [(t.BeginSeqNo, "2"), (t.EndSeqNo, "2")]))  # their 2 is missing
    out = sent(session)
    assert [m.msg_type for m in out] == [t.EXECUTION_REPORT, t.RESEND_REQUEST]  # answered, and we ask for 2
    session.receive(message(t.HEARTBEAT, 2, poss_dup=True, orig=codec.utc_timestamp(T0)))
    assert sent(session) == [] and session.next_in == 4  # the queued request is not answered twice


MINUTE = 60_000_000_000
MIDNIGHT = T0 - T0 % (1440 * MINUTE)


def test_schedule_periods_same_day_and_across_midnight() -> None:
    day = Schedule(8 * 60, 17 * 60)
    assert day.period(MIDNIGHT + 9 * 60 * MINUTE) == MIDNIGHT + 8 * 60 * MINUTE
    assert day.period(MIDNIGHT + 17 * 60 * MINUTE) is None and day.period(MIDNIGHT + 7 * 60 * MINUTE) is None
    night = Schedule(22 * 60, 21 * 60)  # Sunday-to-Friday style: open 22:00 until 21:00 next day
    assert night.period(MIDNIGHT + 23 * 60 * MINUTE) == MIDNIGHT + 22 * 60 * MINUTE
    assert night.period(MIDNIGHT + 60 * MINUTE) == MIDNIGHT - 2 * 60 * MINUTE
    assert night.period(MIDNIGHT + 21 * 60 * MINUTE + MINUTE) is None


def test_scheduled_session_refuses_logons_outside_hours_resets_daily_and_logs_out_at_the_end(tmp_path: Path) -> None:
    clock = Clock()
    clock.now = MIDNIGHT + 7 * 60 * MINUTE  # 07:00, before the 08:00-17:00 session
    store = SessionStore(tmp_path / "fix.sqlite")
    session = FixSession(SessionIdentity(OURS, THEIRS), store, clock, Schedule(8 * 60, 17 * 60))
    session.connection_made()
    session.receive(message(t.LOGON, 1, [(t.EncryptMethod, "0"), (t.HeartBtInt, "30")]))
    [logout] = sent(session)
    assert logout.msg_type == t.LOGOUT and "08:00-17:00 UTC" in logout.fields[t.Text] and not session.logged_on
    clock.now = MIDNIGHT + 9 * 60 * MINUTE
    session.connection_made()
    session.next_in, session.next_out = 40, 50  # yesterday's numbers
    session.receive(message(t.LOGON, 1, [(t.EncryptMethod, "0"), (t.HeartBtInt, "30")]))
    [logon] = sent(session)
    assert session.logged_on and logon.seq == 1 and session.next_in == 2  # a new day starts at 1
    clock.now = MIDNIGHT + 17 * 60 * MINUTE
    session.timer(clock.now)
    [bye] = sent(session)
    assert bye.msg_type == t.LOGOUT and "end of the session" in bye.fields[t.Text]
