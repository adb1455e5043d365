"""The engine decides with ReferenceData (the trader's accounts for a new order, the risk officer
role for limits): give it the authenticated user's roles and tradable accounts. Used by the API
(api/access.py) and by a cluster engine shard for the user its gateway authenticated."""

from __future__ import annotations

from ..domain.accounts import ReferenceData, Trader
from ..domain.ids import DeskId, TraderId
from .policy import ALL_ACCOUNTS, Principal, engine_roles


def feed_reference(reference: ReferenceData, principal: Principal) -> None:
    """Replay never re-decides, so feeding current values does not change history."""
    roles = engine_roles(principal.roles)
    if reference.roles.get(principal.user) != roles:
        reference.roles[principal.user] = roles
    everything = ALL_ACCOUNTS in principal.accounts or principal.sees_all()
    accounts = tuple(sorted(reference.accounts if everything else (a for a in principal.accounts if a in reference.accounts)))
    current = reference.traders.get(TraderId(principal.user))
    if current is None or current.accounts != accounts:
        first = reference.accounts.get(accounts[0]) if accounts else None  # type: ignore[call-overload]
        desk = first.desk_id if first is not None else next(iter(reference.desks), DeskId(""))
        reference.traders[TraderId(principal.user)] = Trader(TraderId(principal.user), desk, principal.user, accounts)  # type: ignore[arg-type]
