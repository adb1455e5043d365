"""The firm > desk > trader > account hierarchy that owns orders and (later) carries limits."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    beneficial_owner: str = ""  # self-trade prevention groups accounts by owner; empty: the account itself

    @property
    def owner(self) -> str:
        return self.beneficial_owner or self.account_id


@dataclass(frozen=True, slots=True)
class ReferenceData:
    """Static data the engine decides with; loaded at start, identical on replay."""

    firms: dict[FirmId, Firm]
    desks: dict[DeskId, Desk]
    traders: dict[TraderId, Trader]
    accounts: dict[AccountId, Account]
    instruments: dict[Symbol, Instrument]
    roles: dict[str, frozenset[str]] = field(default_factory=dict)  # user -> roles (risk_officer, ...)

    def has_role(self, user: str, role: str) -> bool:
        return role in self.roles.get(user, ())

    def scopes_of(self, account: AccountId, trader: TraderId) -> list[str]:
        """The hierarchy above an account and trader, widest first: where limits and kill
        switches may be set (``firm:``, ``desk:``, ``trader:``, ``account:``)."""
        scopes = []
        found = self.accounts.get(account)
        if found is not None:
            desk = self.desks.get(found.desk_id)
            if desk is not None:
                scopes.append(f"firm:{desk.firm_id}")
            scopes.append(f"desk:{found.desk_id}")
        return [*scopes, f"trader:{trader}", f"account:{account}"]
