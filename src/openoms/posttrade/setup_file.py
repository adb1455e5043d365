"""The post-trade file (TOML): fee schedule, standing settlement instructions, netting, calendars.

    [fees.commission.equity]          # the fee schedule (see fees.py)
    per_unit = "0.005"
    [[ssi]]
    account = "ACC-EQ-1"
    market = "USD"                    # the instrument's currency, or extra market; "*" for any
    depository = "DTCYUS33"
    agent_bic = "CUSTUS33"
    safekeeping_account = "SAFE-EQ-1"
    [settlement]
    netting_accounts = ["ACC-EQ-2"]
    [calendars]                       # asset class.currency -> a `holidays` financial calendar
    "bond.USD" = "XSIF"
    [holidays]                        # extra closed days per calendar
    XNYS = ["2026-12-24"]
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ..domain.ids import AccountId
from .calendars import CalendarError, Calendars
from .events import Ssi
from .fees import FeeSchedule, FeeScheduleError, flatten


class PostTradeFileError(ValueError):
    pass


@dataclass(frozen=True)
class PostTradeSetup:
    fees: dict[str, str] = field(default_factory=dict)
    ssis: list[Ssi] = field(default_factory=list)
    netting_accounts: list[str] = field(default_factory=list)
    calendars: Calendars = field(default_factory=Calendars)
    source: str = "built-in demo post-trade setup"


def parse(document: dict[str, Any], source: str) -> PostTradeSetup:
    unknown = set(document) - {"fees", "ssi", "settlement", "calendars", "holidays"}
    if unknown:
        raise PostTradeFileError(f"{source}: unknown section(s) {', '.join(sorted(unknown))}")
    fees = flatten(document.get("fees", {}))
    try:
        FeeSchedule(fees)
    except FeeScheduleError as exc:
        raise PostTradeFileError(f"{source}: {exc}") from None
    ssis = []
    for number, entry in enumerate(document.get("ssi", []), 1):
        try:
            ssis.append(Ssi(AccountId(str(entry["account"])), str(entry.get("market", "*")), str(entry["depository"]),
                            str(entry["agent_bic"]), str(entry["safekeeping_account"]), str(entry.get("cash_account", ""))))
        except (KeyError, TypeError) as exc:
            raise PostTradeFileError(f"{source}: [[ssi]] number {number} lacks {exc}") from None
    try:
        extra = {name: [date.fromisoformat(str(d)) for d in days] for name, days in document.get("holidays", {}).items()}
        calendars = Calendars({str(k): str(v) for k, v in document.get("calendars", {}).items()}, extra)
    except (CalendarError, ValueError, TypeError) as exc:
        raise PostTradeFileError(f"{source}: {exc}") from None
    netting = [str(a) for a in document.get("settlement", {}).get("netting_accounts", [])]
    return PostTradeSetup(fees, ssis, netting, calendars, source)


def load(path: Path) -> PostTradeSetup:
    try:
        document = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PostTradeFileError(f"cannot read the post-trade file {path}: {exc}") from None
    return parse(document, str(path))


# The demo: a simple equity and derivatives commission, SIM maker rebate / taker fee, the SEC fee,
# and an SSI for every demo account in USD and EUR (DTC for equities, Fedwire for Treasuries).
DEMO_DOCUMENT: dict[str, Any] = {
    "fees": {
        "commission": {"equity": {"per_unit": "0.005", "minimum": "1.00"}, "bond": {"bps": "0.5"},
                       "future": {"per_unit": "2.50"}, "option": {"per_unit": "0.65", "minimum": "1.00"}},
        "venue_fees": {"SIM": {"added": "-0.0020", "removed": "0.0030"}},
        "regulatory": {"sec_fee_rate": "0.0000278"},
    },
    "ssi": [
        *({"account": a, "market": "USD", "depository": "DTCYUS33", "agent_bic": "CUSTUS33XXX",
           "safekeeping_account": f"SAFE-{a}", "cash_account": f"CASH-{a}"} for a in ("ACC-EQ-1", "ACC-EQ-2", "ACC-FI-1")),
        *({"account": a, "market": "EUR", "depository": "ECLEBEBB", "agent_bic": "CUSTDEFF",
           "safekeeping_account": f"SAFE-EU-{a}"} for a in ("ACC-EQ-1", "ACC-EQ-2", "ACC-FI-1")),
    ],
}


def demo() -> PostTradeSetup:
    return parse(DEMO_DOCUMENT, "built-in demo post-trade setup")
