"""Routing rules: what each rule matches, first match wins, and a bad file refused with its line."""

from __future__ import annotations

from decimal import Decimal

import pytest
from routing_kit import VENUES, Market

from builders import T0
from openoms.demo import demo_reference
from openoms.domain import events as ev
from openoms.domain.ids import Symbol
from openoms.domain.order import Order
from openoms.routing.rules import RoutingError, parse

D = Decimal
REFERENCE = demo_reference()
RULES = """\
default_venues = ["SIM-B"]

[[rules]]
name = "bonds"
asset_class = "bond"
venues = ["SIM"]

[[rules]]
name = "big"
min_quantity = "5000"
strategy = "sor"

[[rules]]
name = "eq2-afternoon"
accounts = ["ACC-EQ-2"]
from_utc = "14:00"
until_utc = "16:00"
venues = ["SIM-A", "SIM-B"]

[[rules]]
name = "small-msft"
symbols = ["MSFT"]
max_quantity = "100"
venues = ["SIM-C", "SIM-A"]
"""


def load(text: str) -> object:
    return parse(text, "routing.toml", REFERENCE.instruments, REFERENCE.accounts, VENUES)


def rule_for(symbol: str, account: str, quantity: str, minute_of_day: int) -> str | None:
    rules = parse(RULES, "routing.toml", REFERENCE.instruments, REFERENCE.accounts, VENUES)
    now = T0 - T0 % 86_400_000_000_000 + minute_of_day * 60_000_000_000
    rule = rules.match(REFERENCE.instruments[Symbol(symbol)], account, D(quantity), now)
    return rule.name if rule else None


@pytest.mark.parametrize(("symbol", "account", "quantity", "minute", "expected"), [
    ("UST-10Y", "ACC-FI-1", "1000", 600, "bonds"),  # by asset class
    ("AAPL", "ACC-EQ-1", "5000", 600, "big"),  # by size (at the bound)
    ("AAPL", "ACC-EQ-2", "100", 14 * 60 + 30, "eq2-afternoon"),  # by account and time of day
    ("AAPL", "ACC-EQ-2", "100", 16 * 60, None),  # the window ends at 16:00
    ("MSFT", "ACC-EQ-1", "100", 600, "small-msft"),  # by instrument and size
    ("MSFT", "ACC-EQ-1", "101", 600, None),
])
def test_rule_when_order_matches_then_first_matching_rule_chosen(symbol: str, account: str, quantity: str, minute: int,
                                                                  expected: str | None) -> None:
    assert rule_for(symbol, account, quantity, minute) == expected


def test_rules_when_no_rule_matches_then_default_venues_and_the_route_is_the_decision() -> None:
    market = Market({}, RULES)
    order = market.submit(10, price="99.00")
    assert isinstance(order, Order)
    assert [route.venue for route in order.routes.values()] == ["SIM-B"]
    assert not order.routing  # the plain default is journaled by its OrderRouted alone


def test_rules_when_rule_matches_then_decision_journaled_with_rule_name() -> None:
    market = Market({}, RULES)
    big = market.submit(6000, price="99.00")  # "big" asks for the SOR; no venue market data: it falls back
    assert isinstance(big, Order)
    decision = big.routing[0]
    assert decision.rule == "big" and decision.strategy == "rule"
    assert any("no market data" in note for note in decision.notes)
    assert any("smart routing not used" in note for note in decision.notes)


@pytest.mark.parametrize(("text", "where", "message"), [
    ('[[rules]]\nname = "x"\nvenues = ["SIM-Z"]\n', "routing.toml:3", "unknown venue 'SIM-Z'"),
    ('\n\n[[rules]]\nname = "x"\nsymbols = ["NOPE"]\n', "routing.toml:5", "unknown instrument 'NOPE'"),
    ('[[rules]]\nname = "x"\naccounts = ["ACC-NONE"]\n', "routing.toml:3", "unknown account 'ACC-NONE'"),
    ('default_venues = ["SIM-Q"]\n', "routing.toml:1", "unknown venue 'SIM-Q'"),
    ('[[rules]]\nname = "x"\n\n[[rules]]\nname = "y"\nstrategy = "fast"\n', "routing.toml:6", "strategy must be rule or sor"),
    ('[[rules]]\nname = "x"\nfrom_utc = "25:00"\n', "routing.toml:3", "from_utc must be"),
    ('[[rules]]\nname = "x"\nmin_quantity = "10"\nmax_quantity = "5"\n', "routing.toml:4", "below min_quantity"),
    ('[[rules]]\nname = "x"\nmin_quantity = 1.5\n', "routing.toml:3", "write numbers as strings"),
    ('[[rules]]\nname = "x"\nvenu = ["SIM"]\n', "routing.toml:3", "unknown rule setting(s) venu"),
    ('[[venues]]\nventue_id = "SIM-D"\n', "routing.toml:2", "unknown venue setting(s) ventue_id"),
    ('[[venues]]\nvenue_id = "SIM-D"\nsymbols = ["ZZZ"]\n', "routing.toml:3", "unknown instrument 'ZZZ'"),
])
def test_rules_file_when_it_names_unknown_things_then_refused_with_file_and_line(text: str, where: str, message: str) -> None:
    with pytest.raises(RoutingError) as caught:
        load(text)
    assert str(caught.value).startswith(where), str(caught.value)
    assert message in str(caught.value)


def test_rules_file_when_venues_table_given_then_its_venues_are_known() -> None:
    rules = parse('[[venues]]\nvenue_id = "SIM-D"\ntaker_fee_bps = "0.5"\nround_lot = 10\n'
                  '[[rules]]\nname = "d"\nvenues = ["SIM-D"]\n', "r.toml", REFERENCE.instruments, REFERENCE.accounts, VENUES)
    assert rules.venues is not None and rules.venues[0].taker_fee_bps == D("0.5") and rules.venues[0].round_lot == D(10)
    assert rules.rules[0].venues == ("SIM-D",)


def test_rules_when_changed_through_engine_then_journaled_and_replay_restores_them() -> None:
    from builders import ACTOR
    from openoms.domain import commands as cmd

    market = Market({})
    events = market.send(cmd.SetRoutingRules(actor=ACTOR, rules=RULES, reason="desk request"))
    assert [type(e) for e in events] == [ev.RoutingRulesChanged]
    assert market.router.rules.rules[1].name == "big"
    bad = market.send(cmd.SetRoutingRules(actor=ACTOR, rules='[[rules]]\nname = "x"\nvenues = ["NOWHERE"]\n', reason=""))
    assert isinstance(bad[0], ev.CommandRejected) and "routing rules:3" in bad[0].reason.message
    fresh = Market({})
    for event in market.events:
        fresh.engine.apply(event)
    assert fresh.router.rules_text == RULES
    refused = market.send(cmd.SetRoutingRules(actor=cmd.Actor("alice", "test"), rules="", reason=""))
    assert isinstance(refused[0], ev.CommandRejected) and "operations" in refused[0].reason.message
