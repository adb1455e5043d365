"""Limits and restricted lists, per scope of the firm > desk > trader > account hierarchy.

A scope is written ``level:id`` (``firm:DEMO``, ``desk:EQUITIES``, ``trader:alice``,
``account:ACC-EQ-1``). Every limit set at any scope above an order applies to it, so the
tightest one wins. An order with no limits at any of its scopes is refused (fail closed).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal, InvalidOperation

LEVELS = ("firm", "desk", "trader", "account")


class LimitError(ValueError):
    """A limit definition that cannot be used (unknown field, not a positive number, bad scope)."""


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

    @classmethod
    def parse(cls, values: dict[str, object], where: str) -> LimitSet:
        known = {f.name for f in fields(cls)}
        parsed: dict[str, Decimal | None] = {}
        for key, raw in values.items():
            if key not in known:
                raise LimitError(f"{where}: unknown limit {key!r} (known: {', '.join(sorted(known))})")
            if raw is None:
                parsed[key] = None
                continue
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
            parsed[key] = value
        return cls(**parsed)

    def as_text(self) -> dict[str, str]:
        return {f.name: str(getattr(self, f.name)) for f in fields(self) if getattr(self, f.name) is not None}


def check_scope(scope: str) -> str:
    level, _, ident = scope.partition(":")
    if level not in LEVELS or not ident:
        raise LimitError(f"scope must be level:id with level one of {', '.join(LEVELS)}, got {scope!r}")
    return scope
