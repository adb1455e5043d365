"""When a FIX session is open: daily or weekly hours in UTC, minus holidays.

A session's *period* is one stretch of opening hours (a day's, or a week's from its start day
and time to its end day and time); each new period starts again at sequence number 1, as FIX
sessions do. Closed dates (listed, or a financial calendar of the maintained ``holidays``
package, e.g. XNYS) have no session: a Logon is refused and a logged-on session is logged out
when one begins. A daily period belongs to the UTC date on which it ends (its trading date: a
22:00-21:00 session opening on the evening of the 23rd trades the 24th), and is not held at all
when that date is closed. A weekly period goes on after a holiday inside it, with its sequence
numbers; the holiday closes it for that UTC date.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import holidays

MINUTE_NS = 60_000_000_000
DAY_NS = 1440 * MINUTE_NS
WEEK_NS = 7 * DAY_NS
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONDAY_SHIFT = 3 * DAY_NS  # 1970-01-01 was a Thursday: shifted by three days, weeks start on Monday 00:00


class ScheduleError(ValueError):
    pass


def weekday(name: str) -> int | None:
    """0 for Monday .. 6 for Sunday, from a day's name or its first three letters; None if neither."""
    text = name.strip().lower()
    for number, day in enumerate(WEEKDAYS):
        if text in (day, day[:3]):
            return number
    return None


def calendar(name: str) -> holidays.HolidayBase:
    """A financial holiday calendar of the ``holidays`` package (its years fill in on first use)."""
    if name not in holidays.list_supported_financial():
        raise ScheduleError(f"unknown holiday calendar {name!r} (the holidays package's financial markets, e.g. XNYS, XLON, XETR)")
    return holidays.financial_holidays(name)


@dataclass(frozen=True, slots=True)
class Schedule:
    """Opening hours in minutes from the start of the cycle: midnight UTC (daily) or Monday 00:00
    UTC (``weekly``). A start at or after the end wraps into the next cycle (22:00-21:00 daily;
    Sunday 22:00 - Friday 21:00 weekly)."""

    start_minute: int
    end_minute: int
    weekly: bool = False
    closed: frozenset[date] = frozenset()
    calendar_name: str = ""
    _calendar: holidays.HolidayBase | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.calendar_name and self._calendar is None:
            object.__setattr__(self, "_calendar", calendar(self.calendar_name))

    def closed_on(self, now: int) -> date | None:
        """The closed date (a holiday) that keeps the session shut at ``now``, else None: for a
        daily session the trading date of the period ``now`` falls in (the UTC date it ends on),
        for a weekly one (or outside a daily period) the UTC date of ``now``."""
        if not self.closed and self._calendar is None:
            return None
        start = None if self.weekly else self._open_period(now)
        # A daily period's last instant gives its trading date, even when it opened the evening before.
        length = ((self.end_minute - self.start_minute) % 1440 or 1440) * MINUTE_NS
        moment = now if start is None else start + length - 1
        day = datetime.fromtimestamp(moment // 1_000_000_000, UTC).date()
        if day in self.closed or (self._calendar is not None and day in self._calendar):
            return day
        return None

    def period(self, now: int) -> int | None:
        """The start (ns) of the session period ``now`` falls in, or None outside the hours or on
        a closed date."""
        if self.closed_on(now) is not None:
            return None
        return self._open_period(now)

    def _open_period(self, now: int) -> int | None:
        """The start (ns) of the period ``now`` falls in by the hours alone (holidays aside)."""
        cycle = WEEK_NS if self.weekly else DAY_NS
        offset = (now + _MONDAY_SHIFT) % cycle if self.weekly else now % cycle
        cycle_start = now - offset
        minute = offset // MINUTE_NS
        start = cycle_start + self.start_minute * MINUTE_NS
        if self.start_minute < self.end_minute:
            return start if self.start_minute <= minute < self.end_minute else None
        if minute >= self.start_minute:
            return start
        return start - cycle if minute < self.end_minute else None

    def describe(self) -> str:
        def moment(minutes: int) -> str:
            hours = f"{minutes % 1440 // 60:02d}:{minutes % 60:02d}"
            return f"{WEEKDAYS[minutes // 1440][:3].capitalize()} {hours}" if self.weekly else hours

        text = f"{moment(self.start_minute)}-{moment(self.end_minute)} UTC"
        if self.calendar_name or self.closed:
            closed = [self.calendar_name] if self.calendar_name else []
            if self.closed:
                closed.append(f"{len(self.closed)} listed date(s)")
            text += f", closed on holidays ({' and '.join(closed)})"
        return text
