"""Instruments: what can be traded, and the tick/lot rules every price and quantity must meet."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum

from .ids import Symbol, VenueId
from .rejects import Reject, RejectCode
from .values import ZERO

HUNDRED = Decimal(100)
# Bounds far above any real order, checked before any arithmetic so absurd input cannot
# overflow the decimal context (e.g. 1E+999999 % 1 raises instead of answering).
MAX_QUANTITY = Decimal(10) ** 12
MAX_PRICE = Decimal(10) ** 9


class AssetClass(str, Enum):
    EQUITY = "equity"
    BOND = "bond"
    FUTURE = "future"
    OPTION = "option"


class Quotation(str, Enum):
    PRICE = "price"  # price per unit
    PERCENT_OF_PAR = "percent_of_par"  # bonds: price is % of face value; quantity is face value


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: Symbol
    asset_class: AssetClass
    currency: str
    tick_size: Decimal
    lot_size: Decimal
    description: str = ""
    multiplier: Decimal = Decimal(1)
    quotation: Quotation = Quotation.PRICE
    settlement_days: int = 1  # T+n business days
    venues: tuple[VenueId, ...] = ()
    underlying: Symbol | None = None
    expiry: str | None = None  # ISO date for futures and options
    strike: Decimal | None = None
    put_call: str | None = None  # "call" | "put"
    average_daily_volume: Decimal | None = None  # for the % of ADV limit (reference data, refreshed daily)
    extra: dict[str, str] = field(default_factory=dict)
    # Derived once (risk reads them for every order): what positions per underlying group by, the
    # side a long position counts on (a put's is short), and whether notional is just qty x price.
    underlying_key: Symbol = field(init=False, repr=False, compare=False)
    exposure_sign: int = field(init=False, repr=False, compare=False)
    plain: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "underlying_key", self.underlying or self.symbol)
        object.__setattr__(self, "exposure_sign", -1 if self.put_call == "put" else 1)
        object.__setattr__(self, "plain", self.multiplier == 1 and self.quotation is Quotation.PRICE)

    def notional(self, quantity: Decimal, price: Decimal) -> Decimal:
        """Cash value of quantity at price, exact: multiplier for derivatives, /100 for % of par."""
        value = quantity * price
        if self.plain:
            return value
        value *= self.multiplier
        if self.quotation is Quotation.PERCENT_OF_PAR:
            value = value / HUNDRED
        return value

    def check_quantity(self, quantity: Decimal) -> Reject | None:
        if not quantity.is_finite() or quantity <= ZERO:
            return Reject(
                RejectCode.INVALID_QUANTITY,
                f"quantity must be positive, got {quantity}",
                {"quantity": str(quantity)},
            )
        if quantity > MAX_QUANTITY:
            return Reject(
                RejectCode.INVALID_QUANTITY,
                f"quantity {quantity} is above the maximum {MAX_QUANTITY}",
                {"quantity": str(quantity), "max": str(MAX_QUANTITY)},
            )
        # Below one lot first: a tiny value (1E-999999999) underflows the remainder to zero.
        if quantity < self.lot_size or quantity % self.lot_size != ZERO:
            return Reject(
                RejectCode.LOT_SIZE_VIOLATION,
                f"quantity {quantity} is not a multiple of the lot size {self.lot_size} of {self.symbol}",
                {"quantity": str(quantity), "lot_size": str(self.lot_size), "symbol": self.symbol},
            )
        return None

    def check_fill_price(self, price: Decimal, what: str = "last_px") -> Reject | None:
        """A venue's execution price: positive and sane, but not held to the tick (venues may
        execute at a midpoint or with sub-tick improvement)."""
        if not price.is_finite() or price <= ZERO or price > MAX_PRICE or price.adjusted() < -12:
            return Reject(RejectCode.INVALID_PRICE, f"{what} {price} is not a valid execution price", {what: str(price)})
        return None

    def check_price(self, price: Decimal, what: str = "price") -> Reject | None:
        # Options and spreads may trade at prices <= 0 in real markets; the demo set does not.
        if not price.is_finite() or price <= ZERO:
            return Reject(
                RejectCode.INVALID_PRICE,
                f"{what} must be positive, got {price}",
                {what: str(price)},
            )
        if price > MAX_PRICE:
            return Reject(RejectCode.INVALID_PRICE, f"{what} {price} is above the maximum {MAX_PRICE}", {what: str(price)})
        if price < self.tick_size or price % self.tick_size != ZERO:
            return Reject(
                RejectCode.TICK_SIZE_VIOLATION,
                f"{what} {price} is not a multiple of the tick size {self.tick_size} of {self.symbol}",
                {what: str(price), "tick_size": str(self.tick_size), "symbol": self.symbol},
            )
        return None
