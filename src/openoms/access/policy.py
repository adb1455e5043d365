"""Who may do what: roles, the actions they allow, and which accounts a user sees and trades.

Pure: no I/O. The REST and WebSocket layers ask ``allowed(principal, action)`` before anything
reaches the engine; the engine keeps its own role checks (risk officer for limits...) and sees
the same roles, fed from the user store (see ``openoms.access.users``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    TRADER = "trader"
    PORTFOLIO_MANAGER = "portfolio_manager"
    RISK_OFFICER = "risk_officer"
    OPERATIONS = "operations"
    COMPLIANCE = "compliance"
    ADMINISTRATOR = "administrator"
    READ_ONLY = "read_only"


ALL_ROLES = frozenset(Role)
# Roles that oversee the whole firm: they see every account whatever their entitlements.
OVERSIGHT = frozenset({Role.RISK_OFFICER, Role.OPERATIONS, Role.COMPLIANCE, Role.ADMINISTRATOR})


class Action(StrEnum):
    READ = "read"  # orders, executions, positions, reference and market data, limits and usage
    TRADE = "trade"  # submit, replace, cancel (on entitled accounts only)
    WHAT_IF = "what_if"  # run a proposed order or basket through the risk checks
    ADJUST_TRADES = "adjust_trades"  # bust and correct executions
    TRADING_DAY = "trading_day"  # end and start of day
    SET_RISK = "set_risk"  # limits, overrides, restricted and watch lists
    KILL_SWITCH = "kill_switch"  # engage and release
    LOCATES = "locates"  # record a stock-borrow locate
    AUDIT = "audit"  # order reconstruction and compliance queries
    ADMIN_USERS = "admin_users"  # create users, grant roles and accounts, issue API keys
    ROUTING = "routing"  # venue state (up/degraded/down) and the routing rules
    ALLOCATE = "allocate"  # block allocations: plan, allocate, amend, cancel, broker acks
    SETTLEMENT = "settlement"  # settlement instructions and statuses, start-of-day positions, reconciliation
    STAGE = "stage"  # stage orders for traders to pick up and release, and withdraw them


# The one table of permissions. The administrator is a superuser (the bootstrap account a new
# installation starts with); segregation of duties comes from giving people the narrower roles.
PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.READ: ALL_ROLES,
    Action.TRADE: frozenset({Role.TRADER, Role.ADMINISTRATOR}),
    Action.WHAT_IF: frozenset({Role.TRADER, Role.PORTFOLIO_MANAGER, Role.RISK_OFFICER, Role.ADMINISTRATOR}),
    Action.ADJUST_TRADES: frozenset({Role.OPERATIONS, Role.ADMINISTRATOR}),
    Action.TRADING_DAY: frozenset({Role.OPERATIONS, Role.ADMINISTRATOR}),
    Action.SET_RISK: frozenset({Role.RISK_OFFICER, Role.ADMINISTRATOR}),
    Action.KILL_SWITCH: frozenset({Role.RISK_OFFICER, Role.ADMINISTRATOR}),
    Action.LOCATES: frozenset({Role.OPERATIONS, Role.RISK_OFFICER, Role.ADMINISTRATOR}),
    Action.AUDIT: frozenset({Role.COMPLIANCE, Role.RISK_OFFICER, Role.OPERATIONS, Role.ADMINISTRATOR}),
    Action.ADMIN_USERS: frozenset({Role.ADMINISTRATOR}),
    Action.ROUTING: frozenset({Role.OPERATIONS, Role.ADMINISTRATOR}),
    Action.ALLOCATE: frozenset({Role.TRADER, Role.PORTFOLIO_MANAGER, Role.OPERATIONS, Role.ADMINISTRATOR}),
    Action.SETTLEMENT: frozenset({Role.OPERATIONS, Role.ADMINISTRATOR}),
    Action.STAGE: frozenset({Role.PORTFOLIO_MANAGER, Role.ADMINISTRATOR}),
}

ALL_ACCOUNTS = "*"


def parse_roles(names: Iterable[str]) -> frozenset[Role]:
    """Role names as given by a person; raises ValueError naming the unknown one."""
    roles = set()
    for name in names:
        try:
            roles.add(Role(name.strip().lower().replace("-", "_")))
        except ValueError:
            raise ValueError(f"unknown role {name!r}; roles are {', '.join(sorted(r.value for r in Role))}") from None
    return frozenset(roles)


def engine_roles(roles: Iterable[Role]) -> frozenset[str]:
    """The roles the engine's own checks look for: an administrator holds every role."""
    found = frozenset(roles)
    return frozenset(r.value for r in (ALL_ROLES if Role.ADMINISTRATOR in found else found))


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a person (by session) or a system (by API key)."""

    user: str
    roles: frozenset[Role]
    accounts: frozenset[str]  # accounts the user may trade (and see); "*" for all
    via: str = "session"  # session | api_key | trusted_header
    trusted: bool = False  # trusted-header mode: the embedding process vouches; only the engine's checks apply

    def may(self, action: Action) -> bool:
        return self.trusted or bool(self.roles & PERMISSIONS[action])

    def sees_all(self) -> bool:
        return self.trusted or ALL_ACCOUNTS in self.accounts or bool(self.roles & OVERSIGHT)

    def sees(self, account: str) -> bool:
        return self.sees_all() or account in self.accounts

    def trades(self, account: str) -> bool:
        return self.may(Action.TRADE) and (self.trusted or ALL_ACCOUNTS in self.accounts or account in self.accounts)

    def visible(self) -> frozenset[str] | None:
        """The accounts this user may see, or None for every account."""
        return None if self.sees_all() else self.accounts
