"""Demo reference data for ``oms serve`` with no configuration: instruments, hierarchy, start prices."""

from __future__ import annotations

from decimal import Decimal

from .domain.accounts import Account, Desk, Firm, ReferenceData, Trader
from .domain.ids import AccountId, DeskId, FirmId, Symbol, TraderId, VenueId
from .domain.instruments import AssetClass, Instrument, Quotation

SIM = VenueId("SIM")
D = Decimal


def demo_instruments() -> dict[Symbol, Instrument]:
    items = [
        Instrument(Symbol("AAPL"), AssetClass.EQUITY, "USD", D("0.01"), D(1), "Apple Inc.", venues=(SIM,),
                   average_daily_volume=D(50_000_000)),
        Instrument(Symbol("MSFT"), AssetClass.EQUITY, "USD", D("0.01"), D(1), "Microsoft Corp.", venues=(SIM,),
                   average_daily_volume=D(20_000_000)),
        Instrument(Symbol("NVDA"), AssetClass.EQUITY, "USD", D("0.01"), D(1), "NVIDIA Corp.", venues=(SIM,),
                   average_daily_volume=D(250_000_000)),
        Instrument(Symbol("SAP"), AssetClass.EQUITY, "EUR", D("0.02"), D(1), "SAP SE", venues=(SIM,)),
        # A US Treasury note quoted in percent of par, in 1/128ths; quantity is face value.
        Instrument(Symbol("UST-10Y"), AssetClass.BOND, "USD", D("0.0078125"), D(1000), "US Treasury 4.25% 2036",
                   quotation=Quotation.PERCENT_OF_PAR, settlement_days=1, venues=(SIM,),
                   extra={"coupon": "4.25", "maturity": "2036-11-15", "isin": "US91282CPJ49"}),
        Instrument(Symbol("ESZ6"), AssetClass.FUTURE, "USD", D("0.25"), D(1), "E-mini S&P 500 Dec 2026",
                   multiplier=D(50), settlement_days=0, venues=(SIM,), underlying=Symbol("SPX"), expiry="2026-12-18"),
        Instrument(Symbol("AAPL261218C00230000"), AssetClass.OPTION, "USD", D("0.01"), D(1),
                   "AAPL 18 Dec 2026 230 call", multiplier=D(100), venues=(SIM,), underlying=Symbol("AAPL"),
                   expiry="2026-12-18", strike=D(230), put_call="call"),
    ]
    return {i.symbol: i for i in items}


# Where the market-data simulator starts each instrument.
DEMO_START_PRICES: dict[str, Decimal] = {
    "AAPL": D("230.00"),
    "MSFT": D("420.00"),
    "NVDA": D("140.00"),
    "SAP": D("210.00"),
    "UST-10Y": D("98.5"),
    "ESZ6": D("6000.00"),
    "AAPL261218C00230000": D("12.50"),
}


def demo_reference() -> ReferenceData:
    firm = Firm(FirmId("DEMO"), "OpenOMS Demo Capital")
    desks = [Desk(DeskId("EQUITIES"), firm.firm_id, "Equities & derivatives"), Desk(DeskId("RATES"), firm.firm_id, "Rates")]
    accounts = [
        Account(AccountId("ACC-EQ-1"), DeskId("EQUITIES"), "Equity long/short fund"),
        Account(AccountId("ACC-EQ-2"), DeskId("EQUITIES"), "Equity index fund"),
        Account(AccountId("ACC-FI-1"), DeskId("RATES"), "Government bond fund"),
    ]
    all_accounts = tuple(a.account_id for a in accounts)
    traders = [
        Trader(TraderId("demo"), DeskId("EQUITIES"), "Demo trader (all demo accounts)", all_accounts),
        Trader(TraderId("alice"), DeskId("EQUITIES"), "Alice (equities)", (AccountId("ACC-EQ-1"), AccountId("ACC-EQ-2"))),
        Trader(TraderId("bob"), DeskId("RATES"), "Bob (rates)", (AccountId("ACC-FI-1"),)),
    ]
    return ReferenceData(
        firms={firm.firm_id: firm},
        desks={d.desk_id: d for d in desks},
        traders={t.trader_id: t for t in traders},
        accounts={a.account_id: a for a in accounts},
        instruments=demo_instruments(),
        # Until users and logins land (issue 8): who may change limits and release kill switches.
        # The demo user holds every role so the demo is usable alone; alice and bob are traders only.
        roles={
            "demo": frozenset({"trader", "risk_officer", "operations"}),
            "risk": frozenset({"risk_officer"}),
            "ops": frozenset({"operations"}),
            "alice": frozenset({"trader"}),
            "bob": frozenset({"trader"}),
        },
    )
