"""The limits file: every section, typed values, and a precise error for each mistake."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from openoms.risk import limits_file
from openoms.risk.limits import LimitError, LimitSet

FULL = '''
[limits."firm:DEMO"]
max_order_quantity = "1000000"
self_trade_prevention = "cancel_resting"
short_sale_rules = true
trading_hours_utc = "13:30-20:00"

[limits."account:ACC-EQ-1"]
credit_limit = 5000000
allowed_asset_classes = ["equity", "option"]
allowed_venues = ["SIM"]

[restricted]
"firm:DEMO" = ["NVDA"]

[watch]
"account:ACC-EQ-2" = ["MSFT", "AAPL"]

[fx_rates]
EURUSD = "1.08"
'''


def test_a_full_limits_file_is_read_into_journalable_text(tmp_path: Path) -> None:
    path = tmp_path / "limits.toml"
    path.write_text(FULL)
    document = limits_file.load(path)
    assert document.limits["firm:DEMO"] == {"max_order_quantity": "1000000", "self_trade_prevention": "cancel_resting",
                                            "short_sale_rules": "true", "trading_hours_utc": "13:30-20:00"}
    assert document.limits["account:ACC-EQ-1"] == {"credit_limit": "5000000", "allowed_asset_classes": "equity,option",
                                                   "allowed_venues": "SIM"}
    assert document.watch == {"account:ACC-EQ-2": ["AAPL", "MSFT"]} and document.restricted == {"firm:DEMO": ["NVDA"]}
    assert document.fx_rates == {"EURUSD": Decimal("1.08")}
    # What the journal keeps rebuilds the same limits.
    for text in document.limits.values():
        assert LimitSet.from_text(text).as_text() == text


@pytest.mark.parametrize(("text", "message"), [
    ('[limits."firm:DEMO"]\ntrading_hours_utc = "9:30-16:00"', "trading_hours_utc must be 'HH:MM-HH:MM'"),
    ('[limits."firm:DEMO"]\ntrading_hours_utc = "10:00-10:00"', "opens and closes at the same minute"),
    ('[limits."firm:DEMO"]\nself_trade_prevention = "ignore"', "self_trade_prevention must be one of"),
    ('[limits."firm:DEMO"]\nshort_sale_rules = "yes"', "short_sale_rules must be true or false"),
    ('[limits."firm:DEMO"]\nallowed_asset_classes = ["crypto"]', "unknown asset class(es) crypto"),
    ('[limits."firm:DEMO"]\nallowed_venues = []', "allowed_venues must be a non-empty list"),
    ('[limits."firm:DEMO"]\nmin_price = "10"\nmax_price = "5"', "min_price 10 is above max_price 5"),
    ('[limits."firm:DEMO"]\ncredit_limit = 1.5', "credit_limit must be a decimal string or an integer"),
    ('[fx_rates]\nEUR = "1.08"', "FX pair must be two ISO currency codes"),
    ('[fx_rates]\nEURUSD = "0"', "FX rate EURUSD must be positive"),
    ('[watch]\n"firm:DEMO" = "AAPL"', "watch.firm:DEMO must be a list of symbols"),
    ('[overrides]\nx = 1', "unknown section(s) overrides"),
])
def test_mistakes_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "limits.toml"
    path.write_text(text)
    with pytest.raises(LimitError) as error:
        limits_file.load(path)
    assert message in str(error.value)
