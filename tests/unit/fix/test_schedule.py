"""FIX session schedules: daily and weekly hours in UTC, holidays (listed and from a financial
calendar), and what the session does with them (Logon refused, logout, sequence numbers)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from openoms.api.fix_acceptor import schedule_of
from openoms.config import FixSessionConfig
from openoms.fix import codec
from openoms.fix import tags as t
from openoms.fix.codec import FixMessage
from openoms.fix.schedule import Schedule, ScheduleError, calendar, weekday
from openoms.fix.session import FixSession, SessionIdentity
from openoms.fix.store import SessionStore


def at(day: int, hhmm: str) -> int:
    """ns at November ``day``, 2026, HH:MM UTC (the 23rd is a Monday, the 26th Thanksgiving)."""
    hour, minute = map(int, hhmm.split(":"))
    return int(datetime(2026, 11, day, hour, minute, tzinfo=UTC).timestamp()) * 1_000_000_000


SUN_TO_FRI = Schedule(6 * 1440 + 22 * 60, 4 * 1440 + 21 * 60, weekly=True)  # Sunday 22:00 to Friday 21:00


def test_the_reference_dates_are_what_the_tests_say() -> None:
    assert date(2026, 11, 23).weekday() == 0 and date(2026, 11, 22).weekday() == 6


def test_weekly_session_wraps_the_weekend_and_runs_through_the_nights() -> None:
    week = at(22, "22:00")  # Sunday 22:00: the week's period starts
    assert SUN_TO_FRI.period(at(22, "22:00")) == week
    assert SUN_TO_FRI.period(at(23, "03:00")) == week  # Monday night-time: still the same period
    assert SUN_TO_FRI.period(at(27, "20:59")) == week  # Friday before the close
    assert SUN_TO_FRI.period(at(27, "21:00")) is None  # closed from Friday 21:00 ...
    assert SUN_TO_FRI.period(at(28, "12:00")) is None  # ... over Saturday ...
    assert SUN_TO_FRI.period(at(29, "21:59")) is None  # ... until Sunday 22:00
    assert SUN_TO_FRI.period(at(29, "22:00")) == week + 7 * 86_400 * 10**9  # the next week's period
    monday_to_friday = Schedule(8 * 60, 4 * 1440 + 17 * 60, weekly=True)  # Monday 08:00 to Friday 17:00
    assert monday_to_friday.period(at(25, "03:00")) == at(23, "08:00")
    assert monday_to_friday.period(at(23, "07:59")) is None and monday_to_friday.period(at(27, "17:00")) is None


def test_holidays_close_a_daily_session_listed_or_from_a_financial_calendar() -> None:
    listed = Schedule(8 * 60, 17 * 60, closed=frozenset({date(2026, 11, 24)}))
    assert listed.period(at(24, "09:00")) is None and listed.closed_on(at(24, "09:00")) == date(2026, 11, 24)
    assert listed.period(at(25, "09:00")) == at(25, "08:00") and listed.closed_on(at(25, "09:00")) is None
    nyse = Schedule(8 * 60, 17 * 60, calendar_name="XNYS")
    assert nyse.period(at(26, "09:00")) is None  # Thanksgiving
    assert nyse.period(at(27, "09:00")) == at(27, "08:00")
    assert nyse.describe() == "08:00-17:00 UTC, closed on holidays (XNYS)"
    assert SUN_TO_FRI.describe() == "Sun 22:00-Fri 21:00 UTC"


def test_an_overnight_daily_session_is_closed_by_the_holiday_of_its_trading_date() -> None:
    """22:00-21:00 UTC: the period opening on the 25th at 22:00 trades the 26th (the holiday), so
    it is not held at all; the one opening on the 26th at 22:00 trades the 27th and is held."""
    overnight = Schedule(22 * 60, 21 * 60, closed=frozenset({date(2026, 11, 26)}))
    assert overnight.period(at(25, "12:00")) == at(24, "22:00")  # trading the 25th
    assert overnight.period(at(25, "22:30")) is None and overnight.closed_on(at(25, "22:30")) == date(2026, 11, 26)
    assert overnight.period(at(26, "12:00")) is None
    assert overnight.period(at(26, "22:30")) == at(26, "22:00") and overnight.closed_on(at(26, "22:30")) is None
    assert overnight.period(at(27, "03:00")) == at(26, "22:00")
    until_midnight = Schedule(8 * 60, 0, closed=frozenset({date(2026, 11, 26)}))  # 08:00-24:00 trades its own date
    assert until_midnight.period(at(25, "23:59")) == at(25, "08:00") and until_midnight.period(at(26, "09:00")) is None


def test_a_weekly_period_goes_on_after_a_holiday_inside_it() -> None:
    week = Schedule(SUN_TO_FRI.start_minute, SUN_TO_FRI.end_minute, weekly=True, calendar_name="XNYS")
    assert week.period(at(25, "12:00")) == at(22, "22:00")
    assert week.period(at(26, "12:00")) is None
    assert week.period(at(27, "12:00")) == at(22, "22:00")


def test_unknown_calendars_and_day_names() -> None:
    with pytest.raises(ScheduleError, match="unknown holiday calendar 'MOON'"):
        calendar("MOON")
    assert (weekday("Sunday"), weekday("mon"), weekday("funday")) == (6, 0, None)


def test_config_becomes_the_schedule() -> None:
    settings = FixSessionConfig("C", start_utc="22:00", end_utc="21:00", start_day="sun", end_day="friday",
                                holidays=("2026-12-25",), holiday_calendar="XNYS")
    schedule = schedule_of(settings)
    assert schedule == Schedule(SUN_TO_FRI.start_minute, SUN_TO_FRI.end_minute, True, frozenset({date(2026, 12, 25)}), "XNYS")
    assert schedule_of(FixSessionConfig("C")) is None


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def logon(session: FixSession, seq: int) -> list[FixMessage]:
    session.connection_made()
    session.receive(codec.parse(codec.encode(t.LOGON, "CLIENT", "OPENOMS", seq, codec.utc_timestamp(session.clock_ns()),
                                             [(t.EncryptMethod, "0"), (t.HeartBtInt, "30")])))
    out = [codec.parse(frame) for frame in session.outbox]
    session.outbox.clear()
    return out


def test_weekly_session_refuses_logon_on_a_holiday_logs_out_when_one_starts_and_keeps_its_numbers_after(tmp_path: Path) -> None:
    clock = Clock(at(25, "12:00"))  # Wednesday
    schedule = Schedule(SUN_TO_FRI.start_minute, SUN_TO_FRI.end_minute, weekly=True, closed=frozenset({date(2026, 11, 26)}))
    session = FixSession(SessionIdentity("OPENOMS", "CLIENT"), SessionStore(tmp_path / "fix.sqlite"), clock, schedule)
    [answer] = logon(session, 1)
    assert answer.msg_type == t.LOGON and session.logged_on
    session.send_app(t.EXECUTION_REPORT, [(t.ClOrdID, "A")])  # our seq 2
    session.outbox.clear()
    clock.now = at(26, "00:00")  # the holiday begins
    session.timer(clock.now)
    [bye] = [codec.parse(frame) for frame in session.outbox]
    session.outbox.clear()
    assert bye.msg_type == t.LOGOUT and "end of the session" in bye.fields[t.Text]
    session.connection_lost()
    clock.now = at(26, "12:00")
    [refused] = logon(session, 2)
    assert refused.msg_type == t.LOGOUT and not session.logged_on
    assert refused.fields[t.Text].startswith("closed on 2026-11-26 (holiday) (Sun 22:00-Fri 21:00 UTC")
    session.connection_lost()
    clock.now = at(27, "09:00")  # the same week's period: sequence numbers go on
    [again] = logon(session, 2)  # the refused Logon did not use up its number
    assert again.msg_type == t.LOGON and session.logged_on and again.seq > 2 and session.next_in == 3
    clock.now = at(29, "22:30")  # next week: a new period starts at 1
    session.connection_lost()
    [fresh] = logon(session, 1)
    assert fresh.msg_type == t.LOGON and fresh.seq == 1
