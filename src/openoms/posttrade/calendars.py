"""Settlement dates over business-day calendars.

Holidays come from the maintained ``holidays`` package's financial calendars (XNYS: the New York
Stock Exchange; XSIF: SIFMA's US bond market; XECB: TARGET2; XLON, XPAR, ...), plus extra
holidays from the post-trade file. The calendar arithmetic itself is pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta

import holidays

from ..domain.instruments import AssetClass, Instrument

# Which calendar an instrument settles on, by asset class and currency (the post-trade file may
# add or change entries: [calendars] "bond.USD" = "XSIF").
DEFAULT_CALENDARS = {
    "equity.USD": "XNYS", "option.USD": "XNYS", "future.USD": "XCME", "bond.USD": "XSIF",
    "equity.EUR": "XECB", "bond.EUR": "XECB", "future.EUR": "XECB", "option.EUR": "XECB",
    "equity.GBP": "XLON", "bond.GBP": "XLON",
}


class CalendarError(ValueError):
    pass


class BusinessCalendar:
    def __init__(self, name: str, extra_holidays: Iterable[date] = ()) -> None:
        if name not in holidays.list_supported_financial():
            raise CalendarError(f"unknown holiday calendar {name!r} (the holidays package's financial markets, e.g. XNYS, XSIF, XECB)")
        self.name = name
        self._holidays = holidays.financial_holidays(name)  # fills each year on first use
        self.extra = frozenset(extra_holidays)

    def is_business_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self._holidays and day not in self.extra

    def add_business_days(self, day: date, count: int) -> date:
        """``count`` business days after ``day`` (0: ``day`` itself if it is one, else the next)."""
        while not self.is_business_day(day):
            day += timedelta(days=1)
        for _ in range(count):
            day += timedelta(days=1)
            while not self.is_business_day(day):
                day += timedelta(days=1)
        return day


class Calendars:
    def __init__(self, mapping: Mapping[str, str] | None = None, extra_holidays: Mapping[str, Iterable[date]] | None = None) -> None:
        self.mapping = {**DEFAULT_CALENDARS, **(mapping or {})}
        extra = extra_holidays or {}
        self.calendars = {name: BusinessCalendar(name, extra.get(name, ())) for name in sorted(set(self.mapping.values()))}

    def for_instrument(self, instrument: Instrument) -> BusinessCalendar | None:
        name = self.mapping.get(f"{instrument.asset_class.value}.{instrument.currency}")
        return self.calendars.get(name) if name else None

    def settlement_date(self, instrument: Instrument, trade_date: date) -> date | None:
        """Trade date plus the instrument's settlement cycle in business days (None: no calendar)."""
        calendar = self.for_instrument(instrument)
        if calendar is None:
            return None
        return calendar.add_business_days(trade_date, instrument.settlement_days)


def market_of(instrument: Instrument) -> str:
    """The settlement market an SSI is chosen by: the instrument's (``extra['market']``) or its currency."""
    return instrument.extra.get("market", instrument.currency)


def is_bond(instrument: Instrument) -> bool:
    return instrument.asset_class is AssetClass.BOND
