"""Value types shared by the domain: sides, order types, time in force, liquidity.

Prices, quantities and cash are ``decimal.Decimal`` everywhere: never binary floats.
"""

from __future__ import annotations

from decimal import Decimal
from enum import Enum

ZERO = Decimal(0)


class Side(str, Enum):
    BUY = "buy"
    SELL = "sell"
    SELL_SHORT = "sell_short"
    SELL_SHORT_EXEMPT = "sell_short_exempt"

    @property
    def sign(self) -> int:
        """+1 for buys, -1 for every kind of sale: the direction a fill moves a position."""
        return 1 if self is Side.BUY else -1

    @property
    def is_buy(self) -> bool:
        return self is Side.BUY


class OrdType(str, Enum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"

    @property
    def needs_price(self) -> bool:
        return self in (OrdType.LIMIT, OrdType.STOP_LIMIT)

    @property
    def needs_stop_price(self) -> bool:
        return self in (OrdType.STOP, OrdType.STOP_LIMIT)


class TimeInForce(str, Enum):
    DAY = "day"
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"
    GTD = "gtd"

    @property
    def is_immediate(self) -> bool:
        return self in (TimeInForce.IOC, TimeInForce.FOK)


class Liquidity(str, Enum):
    ADDED = "added"  # maker: rested on the book
    REMOVED = "removed"  # taker: crossed the spread
