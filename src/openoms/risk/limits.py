"""Limits and restricted lists, per scope of the firm > desk > trader > account hierarchy.

A scope is written ``level:id`` (``firm:DEMO``, ``desk:EQUITIES``, ``trader:alice``,
``account:ACC-EQ-1``). Every limit set at any scope above an order applies to it, so the
tightest one wins. An order with no limits at any of its scopes is refused (fail closed).

Limits are journaled as text (``LimitsChanged.limits``); ``LimitSet.parse`` validates user input
and ``LimitSet.from_text`` rebuilds what the journal holds, so replay never re-validates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

LEVELS = ("firm", "desk", "trader", "account")
STP_POLICIES = ("reject_incoming", "cancel_resting")
COLLAR_REFERENCES = ("last", "mid")
ASSET_CLASSES = ("equity", "bond", "future", "option")


class LimitError(ValueError):
    """A limit definition that cannot be used (unknown field, not a positive number, bad scope)."""


Hours = tuple[int, int]  # [open, close) in minutes after 00:00 UTC; close < open wraps past midnight


@dataclass(frozen=True, slots=True)
class LimitSet:
    max_order_quantity: Decimal | None = None
    max_order_notional: Decimal | None = None  # in the instrument's currency
    price_collar_pct: Decimal | None = None  # how far an aggressive limit may be through the reference price
    # Per account and instrument, counting working orders the moment they are accepted:
    # position + working buys + this buy <= max_long_position (and the mirror for shorts).
    max_long_position: Decimal | None = None
    max_short_position: Decimal | None = None
    # Fat-finger and rate controls, per account: an identical order (side, instrument, quantity,
    # price) within this many ms is refused as a duplicate; at most this many new orders a second.
    duplicate_window_ms: Decimal | None = None
    max_orders_per_second: Decimal | None = None
    # --- order size and price ---
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    price_collar_ticks: Decimal | None = None  # like price_collar_pct, in ticks of the instrument
    collar_reference: str | None = None  # what collars measure from: "last" trade (default) or NBBO "mid"
    max_pct_adv: Decimal | None = None  # order quantity as % of the instrument's average daily volume
    # --- account-wide, in the account's currency (FX-converted) ---
    credit_limit: Decimal | None = None  # buying power: long positions at cost + working buys at their price
    max_gross_exposure: Decimal | None = None  # sum |position| x mark + every working order's notional
    max_net_exposure: Decimal | None = None  # |sum position x mark + working buys - working sells|
    max_daily_loss: Decimal | None = None  # today's realized + unrealized (marked) loss
    # --- per underlying (the instrument itself and its futures/options, quantity x multiplier) ---
    max_long_underlying: Decimal | None = None
    max_short_underlying: Decimal | None = None
    # --- message controls ---
    max_replaces_per_second: Decimal | None = None
    max_cancels_per_second: Decimal | None = None
    max_order_to_trade_ratio: Decimal | None = None  # today's new+replace+cancel messages per fill
    order_to_trade_min_messages: Decimal | None = None  # the ratio applies from this many messages on
    # --- compliance ---
    self_trade_prevention: str | None = None  # reject_incoming | cancel_resting
    short_sale_rules: bool | None = None  # Reg SHO: sales marked long must be covered; shorts need a locate
    allowed_asset_classes: frozenset[str] | None = None
    allowed_venues: frozenset[str] | None = None
    trading_hours_utc: Hours | None = None

    @classmethod
    def parse(cls, values: dict[str, object], where: str) -> LimitSet:
        """Validate user input (API body or limits file): every problem names the field."""
        known = {f.name for f in fields(cls)}
        parsed: dict[str, object] = {}
        for key, raw in values.items():
            if key not in known:
                raise LimitError(f"{where}: unknown limit {key!r} (known: {', '.join(sorted(known))})")
            parsed[key] = None if raw is None else _parse_value(key, raw, where)
        limit_set = cls(**parsed)  # type: ignore[arg-type]
        if (limit_set.min_price is not None and limit_set.max_price is not None
                and limit_set.min_price > limit_set.max_price):
            raise LimitError(f"{where}: min_price {limit_set.min_price} is above max_price {limit_set.max_price}")
        return limit_set

    @classmethod
    def from_text(cls, values: dict[str, str]) -> LimitSet:
        """Rebuild journaled limits (already validated when they were set)."""
        return cls(**{key: _parse_value(key, raw, "journal") for key, raw in values.items()})  # type: ignore[arg-type]

    def as_text(self) -> dict[str, str]:
        return {f.name: _text(getattr(self, f.name)) for f in fields(self) if getattr(self, f.name) is not None}

    def merged(self, override: LimitSet) -> LimitSet:
        """These limits with every field the override sets replaced (a temporary override)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update({f.name: getattr(override, f.name) for f in fields(override) if getattr(override, f.name) is not None})
        return LimitSet(**values)

    def sets(self, name: str) -> bool:
        return getattr(self, name) is not None


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, frozenset):
        return ",".join(sorted(value))
    if isinstance(value, tuple):
        return "-".join(f"{m // 60:02d}:{m % 60:02d}" for m in value)
    return str(value)


def _parse_value(key: str, raw: object, where: str) -> object:
    if key == "self_trade_prevention":
        if raw not in STP_POLICIES:
            raise LimitError(f"{where}: self_trade_prevention must be one of {', '.join(STP_POLICIES)}, got {raw!r}")
        return raw
    if key == "collar_reference":
        if raw not in COLLAR_REFERENCES:
            raise LimitError(f"{where}: collar_reference must be one of {', '.join(COLLAR_REFERENCES)}, got {raw!r}")
        return raw
    if key == "short_sale_rules":
        if isinstance(raw, bool):
            return raw
        if raw in ("true", "false"):
            return raw == "true"
        raise LimitError(f"{where}: short_sale_rules must be true or false, got {raw!r}")
    if key in ("allowed_asset_classes", "allowed_venues"):
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, (list, tuple)) or not items or not all(isinstance(i, str) and i.strip() for i in items):
            raise LimitError(f"{where}: {key} must be a non-empty list of names, got {raw!r}")
        names = frozenset(i.strip() for i in items)
        if key == "allowed_asset_classes" and not names <= set(ASSET_CLASSES):
            bad = sorted(names - set(ASSET_CLASSES))
            raise LimitError(f"{where}: allowed_asset_classes: unknown asset class(es) {', '.join(bad)} "
                             f"(known: {', '.join(ASSET_CLASSES)})")
        return names
    if key == "trading_hours_utc":
        return _parse_hours(raw, where)
    if isinstance(raw, (float, bool)):
        raise LimitError(f"{where}: {key} must be a decimal string or an integer, not {raw!r}")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise LimitError(f"{where}: {key} must be a number, got {raw!r}") from None
    if not value.is_finite() or value <= 0:
        raise LimitError(f"{where}: {key} must be positive, got {raw!r}")
    if key == "duplicate_window_ms" and value > 3_600_000:
        raise LimitError(f"{where}: duplicate_window_ms is at most 3600000 (one hour), got {raw!r}")
    return value


def _parse_hours(raw: object, where: str) -> Hours:
    problem = f"{where}: trading_hours_utc must be 'HH:MM-HH:MM' (UTC), got {raw!r}"
    if not isinstance(raw, str) or raw.count("-") != 1:
        raise LimitError(problem)
    minutes = []
    for part in raw.split("-"):
        hh, _, mm = part.strip().partition(":")
        if not (hh.isdigit() and mm.isdigit() and len(hh) == 2 and len(mm) == 2 and int(hh) < 24 and int(mm) < 60):
            raise LimitError(problem)
        minutes.append(int(hh) * 60 + int(mm))
    if minutes[0] == minutes[1]:
        raise LimitError(f"{where}: trading_hours_utc opens and closes at the same minute: {raw!r}")
    return minutes[0], minutes[1]


def check_scope(scope: str) -> str:
    level, _, ident = scope.partition(":")
    if level not in LEVELS or not ident:
        raise LimitError(f"scope must be level:id with level one of {', '.join(LEVELS)}, got {scope!r}")
    return scope


class Bound(NamedTuple):
    """One limit in force over an order: its value and where the scope that set it sits in the
    order's hierarchy (an index into its scopes: firm, desk, trader, account), so accounts whose
    limits are equal level by level share one compiled ``Effective``."""

    value: Any
    level: int


_LOWER_IS_TIGHTER = {f.name for f in fields(LimitSet) if f.type in ("Decimal | None",)} - {"min_price"}
_LISTS = ("allowed_asset_classes", "allowed_venues", "trading_hours_utc")
_NAMES = tuple(f.name for f in fields(LimitSet))


class Effective:
    """The limits over one (account, trader), compiled once from every scope above it: for each
    limit the tightest value and the scope it comes from (a list for permissions and hours,
    which every scope must grant). The rules read one attribute instead of walking the scopes."""

    __slots__ = (*(f.name for f in fields(LimitSet)), "asset_classes_ok", "collared", "configured", "venues_ok")

    configured: bool
    collared: bool
    asset_classes_ok: frozenset[str] | None  # what every scope's list permits (None: no list anywhere)
    venues_ok: frozenset[str] | None
    max_order_quantity: Bound | None
    max_order_notional: Bound | None
    price_collar_pct: Bound | None
    max_long_position: Bound | None
    max_short_position: Bound | None
    duplicate_window_ms: Bound | None
    max_orders_per_second: Bound | None
    min_price: Bound | None
    max_price: Bound | None
    price_collar_ticks: Bound | None
    max_pct_adv: Bound | None
    credit_limit: Bound | None
    max_gross_exposure: Bound | None
    max_net_exposure: Bound | None
    max_daily_loss: Bound | None
    max_long_underlying: Bound | None
    max_short_underlying: Bound | None
    max_replaces_per_second: Bound | None
    max_cancels_per_second: Bound | None
    max_order_to_trade_ratio: Bound | None
    order_to_trade_min_messages: Bound | None
    self_trade_prevention: Bound | None
    short_sale_rules: Bound | None
    collar_reference: Bound | None
    allowed_asset_classes: tuple[Bound, ...] | None
    allowed_venues: tuple[Bound, ...] | None
    trading_hours_utc: tuple[Bound, ...] | None

    def __init__(self, in_force: Sequence[tuple[int, LimitSet]]) -> None:
        self.configured = bool(in_force)
        found: dict[str, list[Bound]] = {}
        for level, limit_set in in_force:
            for name in _NAMES:
                value = getattr(limit_set, name)
                if value is not None:
                    found.setdefault(name, []).append(Bound(value, level))
        for name in _NAMES:
            bounds = found.get(name)
            chosen: Any = None
            if bounds is None:
                pass
            elif name in _LISTS:
                chosen = tuple(bounds)
            elif name == "min_price":
                chosen = max(bounds, key=lambda bound: bound.value)
            elif name in _LOWER_IS_TIGHTER:
                chosen = min(bounds, key=lambda bound: bound.value)
            elif name == "short_sale_rules":
                chosen = next((bound for bound in bounds if bound.value), None)
            elif name == "collar_reference":
                chosen = bounds[-1]  # the most specific scope's choice
            elif name == "self_trade_prevention":
                chosen = next((bound for bound in bounds if bound.value == "reject_incoming"), bounds[0])
            setattr(self, name, chosen)
        self.collared = self.price_collar_pct is not None or self.price_collar_ticks is not None
        self.asset_classes_ok = _permitted(self.allowed_asset_classes)
        self.venues_ok = _permitted(self.allowed_venues)

    def __repr__(self) -> str:
        return f"Effective({ {name: getattr(self, name) for name in self.__slots__ if getattr(self, name)} })"

    def has(self, *names: str) -> bool:
        return any(getattr(self, name) is not None for name in names)


def _permitted(lists: tuple[Bound, ...] | None) -> frozenset[str] | None:
    if lists is None:
        return None
    allowed: frozenset[str] = lists[0].value
    for bound in lists[1:]:
        allowed = allowed & bound.value
    return allowed


def set_bound(bound: Bound | None) -> Bound:
    """A limit a rule only runs with (``applicable_rules`` saw it set)."""
    assert bound is not None
    return bound
