"""The limits file (TOML), loaded at start; `oms serve` journals what it changes.

    [limits."firm:DEMO"]
    max_order_quantity = "100000000"
    max_order_notional = "100000000"
    price_collar_pct = "10"

    [limits."account:ACC-EQ-2"]
    max_order_notional = "5000000"

    [restricted]
    "firm:DEMO" = ["NVDA"]

    [watch]                      # orders pass, with a compliance alert
    "firm:DEMO" = ["MSFT"]

    [fx_rates]                   # for limits counted in an account's currency
    EURUSD = "1.08"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from .fx import FxRates
from .limits import LimitError, LimitSet, check_scope

SECTIONS = ("limits", "restricted", "watch", "fx_rates")


@dataclass(frozen=True, slots=True)
class LimitsDocument:
    limits: dict[str, dict[str, str]] = field(default_factory=dict)
    restricted: dict[str, list[str]] = field(default_factory=dict)
    watch: dict[str, list[str]] = field(default_factory=dict)
    fx_rates: dict[str, Decimal] = field(default_factory=dict)


def parse(data: dict[str, object], where: str) -> LimitsDocument:
    unknown = set(data) - set(SECTIONS)
    if unknown:
        raise LimitError(f"{where}: unknown section(s) {', '.join(sorted(unknown))} (known: {', '.join(SECTIONS)})")
    limits: dict[str, dict[str, str]] = {}
    raw_limits = data.get("limits", {})
    if not isinstance(raw_limits, dict):
        raise LimitError(f"{where}: [limits] must be a table of scopes")
    for scope, values in raw_limits.items():
        check_scope(scope)
        if not isinstance(values, dict):
            raise LimitError(f"{where}: limits.{scope} must be a table")
        limits[scope] = LimitSet.parse(values, f"{where}: limits.{scope}").as_text()
    fx_rates: dict[str, Decimal] = {}
    raw_fx = data.get("fx_rates", {})
    if not isinstance(raw_fx, dict):
        raise LimitError(f"{where}: [fx_rates] must be a table like EURUSD = \"1.08\"")
    for pair, rate in raw_fx.items():
        if isinstance(rate, (float, bool)):
            raise LimitError(f"{where}: fx_rates.{pair} must be a decimal string, not {rate!r}")
        try:
            fx_rates[pair] = Decimal(str(rate))
        except InvalidOperation:
            raise LimitError(f"{where}: fx_rates.{pair} must be a number, got {rate!r}") from None
    FxRates(fx_rates)  # validates the pairs and rates
    return LimitsDocument(limits, _lists(data, "restricted", where), _lists(data, "watch", where), fx_rates)


def _lists(data: dict[str, object], section: str, where: str) -> dict[str, list[str]]:
    lists: dict[str, list[str]] = {}
    raw = data.get(section, {})
    if not isinstance(raw, dict):
        raise LimitError(f"{where}: [{section}] must be a table of scopes")
    for scope, symbols in raw.items():
        check_scope(scope)
        if not isinstance(symbols, list) or not all(isinstance(s, str) and s for s in symbols):
            raise LimitError(f"{where}: {section}.{scope} must be a list of symbols")
        lists[scope] = sorted(set(symbols))
    return lists


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
        "firm:DEMO": {"max_order_quantity": "100000000", "max_order_notional": "100000000", "price_collar_pct": "10",
                      "self_trade_prevention": "cancel_resting"},
        "desk:EQUITIES": {"max_order_quantity": "1000000", "max_order_notional": "25000000"},
        "desk:RATES": {"max_order_quantity": "100000000", "max_order_notional": "100000000"},
        "account:ACC-EQ-2": {"max_order_notional": "5000000"},
    },
    fx_rates={"EURUSD": Decimal("1.08")},
)
