"""The limits file (TOML), loaded at start; `oms serve` journals what it changes.

    [limits."firm:DEMO"]
    max_order_quantity = "100000000"
    max_order_notional = "100000000"
    price_collar_pct = "10"

    [limits."account:ACC-EQ-2"]
    max_order_notional = "5000000"

    [restricted]
    "firm:DEMO" = ["NVDA"]
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .limits import LimitError, LimitSet, check_scope


@dataclass(frozen=True, slots=True)
class LimitsDocument:
    limits: dict[str, dict[str, str]] = field(default_factory=dict)
    restricted: dict[str, list[str]] = field(default_factory=dict)


def parse(data: dict[str, object], where: str) -> LimitsDocument:
    unknown = set(data) - {"limits", "restricted"}
    if unknown:
        raise LimitError(f"{where}: unknown section(s) {', '.join(sorted(unknown))} (known: limits, restricted)")
    limits: dict[str, dict[str, str]] = {}
    raw_limits = data.get("limits", {})
    if not isinstance(raw_limits, dict):
        raise LimitError(f"{where}: [limits] must be a table of scopes")
    for scope, values in raw_limits.items():
        check_scope(scope)
        if not isinstance(values, dict):
            raise LimitError(f"{where}: limits.{scope} must be a table")
        limits[scope] = LimitSet.parse(values, f"{where}: limits.{scope}").as_text()
    restricted: dict[str, list[str]] = {}
    raw_restricted = data.get("restricted", {})
    if not isinstance(raw_restricted, dict):
        raise LimitError(f"{where}: [restricted] must be a table of scopes")
    for scope, symbols in raw_restricted.items():
        check_scope(scope)
        if not isinstance(symbols, list) or not all(isinstance(s, str) and s for s in symbols):
            raise LimitError(f"{where}: restricted.{scope} must be a list of symbols")
        restricted[scope] = sorted(set(symbols))
    return LimitsDocument(limits, restricted)


def load(path: Path) -> LimitsDocument:
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise LimitError(f"limits file {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise LimitError(f"limits file {path}: {exc}") from None
    return parse(data, str(path))


DEMO_LIMITS = LimitsDocument(
    limits={
        "firm:DEMO": {"max_order_quantity": "100000000", "max_order_notional": "100000000", "price_collar_pct": "10"},
        "desk:EQUITIES": {"max_order_quantity": "1000000", "max_order_notional": "25000000"},
        "desk:RATES": {"max_order_quantity": "100000000", "max_order_notional": "100000000"},
        "account:ACC-EQ-2": {"max_order_notional": "5000000"},
    },
)
