"""Accrued interest on bonds: actual/actual (ICMA), regular coupons counted back from maturity.

The instrument carries ``extra['coupon']`` (annual rate in percent), ``extra['maturity']`` (ISO
date) and optionally ``extra['coupon_frequency']`` (payments a year, default 2 as for US Treasuries).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from ..domain.instruments import Instrument
from .money import ZERO

HUNDRED = Decimal(100)


class AccruedError(ValueError):
    pass


def _months_back(day: date, months: int) -> date:
    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    month += 1
    # The coupon keeps the maturity's day of month, or the month's last day when shorter.
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise AccruedError(f"no coupon date in {year}-{month}")


def coupon_period(instrument: Instrument, settlement: date) -> tuple[date, date]:
    """The coupon period (last coupon date, next coupon date] that ``settlement`` falls in."""
    try:
        maturity = date.fromisoformat(instrument.extra["maturity"])
        frequency = int(instrument.extra.get("coupon_frequency", "2"))
    except (KeyError, ValueError):
        raise AccruedError(f"bond {instrument.symbol} needs extra maturity (ISO date) and a coupon frequency") from None
    if frequency not in (1, 2, 4, 12):
        raise AccruedError(f"coupon frequency of {instrument.symbol} must be 1, 2, 4 or 12, got {frequency}")
    if settlement >= maturity:
        raise AccruedError(f"{instrument.symbol} matured on {maturity}")
    step = 12 // frequency
    periods = 1
    previous = _months_back(maturity, step)
    while previous > settlement:
        periods += 1
        previous = _months_back(maturity, step * periods)
    return previous, _months_back(maturity, step * (periods - 1))


def accrued_interest(instrument: Instrument, face: Decimal, settlement: date) -> Decimal:
    """Interest accrued on ``face`` from the last coupon date to ``settlement`` (exact; round to cents to pay)."""
    try:
        coupon = Decimal(instrument.extra["coupon"])
    except (KeyError, InvalidOperation):
        raise AccruedError(f"bond {instrument.symbol} needs extra coupon (annual rate in percent)") from None
    frequency = int(instrument.extra.get("coupon_frequency", "2"))
    start, end = coupon_period(instrument, settlement)
    days = (settlement - start).days
    if days == 0:
        return ZERO
    return face * coupon / HUNDRED / frequency * days / (end - start).days
