"""Commission and fee schedule, configurable per asset class, account and venue (see README).

Kept as flat text (``commission.equity.per_unit = "0.005"``) so that the schedule in force can be
journaled (FeeScheduleSet) and replay computes the same fees whatever the file says later.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from ..domain.ids import AccountId, VenueId
from ..domain.instruments import AssetClass, Instrument
from ..domain.values import Liquidity
from .money import ZERO, cents

BPS = Decimal(10_000)
RATE_FIELDS = ("per_unit", "bps", "minimum")


class FeeScheduleError(ValueError):
    pass


def flatten(document: Mapping[str, object], prefix: str = "") -> dict[str, str]:
    """A TOML table as ``dotted.key -> text``."""
    flat: dict[str, str] = {}
    for key, value in document.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = str(value)
    return flat


class FeeSchedule:
    """``commission.<asset class>.{per_unit,bps,minimum}``, ``commission.accounts.<account>.{...}``
    (overrides the asset class rates for one account), ``venue_fees.<venue>.{added,removed}`` (per
    unit; negative is a rebate) and ``regulatory.sec_fee_rate`` (on the value of equity sales)."""

    def __init__(self, text: Mapping[str, str] | None = None) -> None:
        self.text = dict(sorted((text or {}).items()))
        self.rates: dict[str, Decimal] = {}
        for key, value in self.text.items():
            parts = key.split(".")
            known = (
                (len(parts) == 3 and parts[0] == "commission" and parts[1] in {a.value for a in AssetClass} and parts[2] in RATE_FIELDS)
                or (len(parts) == 4 and parts[:2] == ["commission", "accounts"] and parts[3] in RATE_FIELDS)
                or (len(parts) == 3 and parts[0] == "venue_fees" and parts[2] in ("added", "removed"))
                or key == "regulatory.sec_fee_rate"
            )
            if not known:
                raise FeeScheduleError(f"unknown fee schedule entry {key!r}")
            try:
                rate = Decimal(value)
            except InvalidOperation:
                raise FeeScheduleError(f"fee schedule entry {key} must be a decimal number, got {value!r}") from None
            if not rate.is_finite() or (rate < ZERO and parts[0] != "venue_fees"):
                raise FeeScheduleError(f"fee schedule entry {key} must be a non-negative number, got {value!r}")
            self.rates[key] = rate

        self.sec_fee_rate = self.rates.get("regulatory.sec_fee_rate", ZERO)
        # Resolved rates, memoized: every execution is charged (keys are built once, not per fill).
        self._commission: dict[tuple[str, AssetClass], tuple[Decimal, Decimal, Decimal]] = {}
        self._venue: dict[tuple[str, Liquidity], Decimal] = {}

    def _rate(self, account: AccountId, instrument: Instrument, field: str) -> Decimal:
        own = self.rates.get(f"commission.accounts.{account}.{field}")
        if own is not None:
            return own
        return self.rates.get(f"commission.{instrument.asset_class.value}.{field}", ZERO)

    def commission(self, account: AccountId, instrument: Instrument, quantity: Decimal, gross: Decimal,
                   is_buy: bool, minimum: bool = True) -> Decimal:
        """Per unit (contract, share; for bonds per unit of face) plus basis points of the value, at
        least the minimum (applied per allocation line, not per execution)."""
        key = (account, instrument.asset_class)
        rates = self._commission.get(key)
        if rates is None:
            rates = (self._rate(account, instrument, "per_unit"), self._rate(account, instrument, "bps"),
                     self._rate(account, instrument, "minimum"))
            self._commission[key] = rates
        per_unit, bps, floor = rates
        amount = per_unit * quantity if per_unit else ZERO
        if bps:
            amount += bps * abs(gross) / BPS
        if minimum and floor > amount:
            amount = floor
        return cents(amount) if amount else ZERO

    def execution_fees(self, venue: VenueId, liquidity: Liquidity, instrument: Instrument, quantity: Decimal,
                       gross: Decimal, is_buy: bool) -> Decimal:
        """What the venue charges (or pays) for one execution, plus the SEC fee on equity sales."""
        rate = self._venue.get((venue, liquidity))
        if rate is None:
            rate = self._venue[(venue, liquidity)] = self.rates.get(f"venue_fees.{venue}.{liquidity.value}", ZERO)
        amount = rate * quantity if rate else ZERO
        if not is_buy and self.sec_fee_rate and instrument.asset_class is AssetClass.EQUITY:
            amount += self.sec_fee_rate * abs(gross)
        return cents(amount) if amount else ZERO
