"""The firm > desk > trader > account hierarchy that owns orders and (later) carries limits."""

from __future__ import annotations

from dataclasses import dataclass

from .ids import AccountId, DeskId, FirmId, Symbol, TraderId
from .instruments import Instrument


@dataclass(frozen=True, slots=True)
class Firm:
    firm_id: FirmId
    name: str


@dataclass(frozen=True, slots=True)
class Desk:
    desk_id: DeskId
    firm_id: FirmId
    name: str


@dataclass(frozen=True, slots=True)
class Trader:
    trader_id: TraderId
    desk_id: DeskId
    name: str
    accounts: tuple[AccountId, ...]  # accounts this trader may act on


@dataclass(frozen=True, slots=True)
class Account:
    account_id: AccountId
    desk_id: DeskId
    name: str
    currency: str = "USD"


@dataclass(frozen=True, slots=True)
class ReferenceData:
    """Static data the engine decides with; loaded at start, identical on replay."""

    firms: dict[FirmId, Firm]
    desks: dict[DeskId, Desk]
    traders: dict[TraderId, Trader]
    accounts: dict[AccountId, Account]
    instruments: dict[Symbol, Instrument]
