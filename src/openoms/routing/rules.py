"""Routing rules: declarative, first match wins, loaded from a TOML file or the API.

    default_venues = ["SIM"]        # no rule matches: these (else the instrument's own venues)

    [[rules]]
    name = "large-equity-orders"    # journaled with every decision it makes
    asset_class = "equity"          # any of: symbols, asset_class, accounts, min_quantity,
    min_quantity = "5000"           #   max_quantity, from_utc / until_utc ("HH:MM")
    strategy = "sor"                # "sor": split by the smart order router; else venues in order

    [[rules]]
    name = "eq2-morning"
    accounts = ["ACC-EQ-2"]
    from_utc = "13:30"
    until_utc = "16:00"
    venues = ["SIM-A", "SIM-B"]     # the first that is up, open and takes the lot

    [[venues]]                      # optional: replaces the built-in SIM-A/B/C
    venue_id = "SIM-A"
    taker_fee_bps = "0.3"

A rule (or venue) naming an unknown venue, instrument or account is refused with the file
and line, so a typo never routes an order somewhere unexpected.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, fields
from decimal import Decimal, InvalidOperation
from typing import Any

from ..domain.ids import AccountId, Symbol, VenueId
from ..domain.instruments import AssetClass, Instrument
from .venues import VenueSpec, minutes_of, within

RULE_KEYS = {"name", "symbols", "asset_class", "accounts", "min_quantity", "max_quantity", "from_utc", "until_utc",
             "strategy", "venues"}
TOP_KEYS = {"default_venues", "rules", "venues"}
STRATEGIES = ("rule", "sor")


class RoutingError(ValueError):
    """A routing file or rule set that cannot be used; the message names the place."""


@dataclass(frozen=True, slots=True)
class RoutingRule:
    name: str
    venues: tuple[VenueId, ...] = ()  # empty: the instrument's venues (or, for "sor", every venue)
    strategy: str = "rule"
    symbols: frozenset[str] = frozenset()
    asset_class: AssetClass | None = None
    accounts: frozenset[str] = frozenset()
    min_quantity: Decimal | None = None
    max_quantity: Decimal | None = None
    from_utc: str = ""
    until_utc: str = ""
    line: int = 0

    def matches(self, symbol: str, asset_class: AssetClass, account: str, quantity: Decimal, now: int) -> bool:
        return (
            (not self.symbols or symbol in self.symbols)
            and (self.asset_class is None or self.asset_class is asset_class)
            and (not self.accounts or account in self.accounts)
            and (self.min_quantity is None or quantity >= self.min_quantity)
            and (self.max_quantity is None or quantity <= self.max_quantity)
            and within(now, self.from_utc, self.until_utc)
        )


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[RoutingRule, ...] = ()
    default_venues: tuple[VenueId, ...] = ()
    venues: tuple[VenueSpec, ...] | None = None  # None: keep the venues already configured
    text: str = ""

    def match(self, instrument: Instrument, account: str, quantity: Decimal, now: int) -> RoutingRule | None:
        for rule in self.rules:
            if rule.matches(instrument.symbol, instrument.asset_class, account, quantity, now):
                return rule
        return None


def _lines_of(text: str, header: str) -> list[int]:
    """1-based line of each ``[[header]]`` in ``text`` (tomllib does not report positions)."""
    pattern = re.compile(rf"^\s*\[\[\s*{re.escape(header)}\s*\]\]")
    return [n for n, line in enumerate(text.splitlines(), 1) if pattern.match(line)]


def _key_line(text: str, start: int, key: str) -> int:
    """The line of ``key = ...`` in the table starting at ``start`` (else ``start``)."""
    lines = text.splitlines()
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for n in range(start, len(lines)):
        if n > start - 1 and lines[n].lstrip().startswith("["):
            break
        if pattern.match(lines[n]):
            return n + 1
    return start


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, (float, bool)) or not isinstance(value, (int, str)):
        raise RoutingError(f"{where}: write numbers as strings or integers (\"0.3\"), got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise RoutingError(f"{where}: {value!r} is not a number") from None
    if not number.is_finite() or number < 0:
        raise RoutingError(f"{where}: {value!r} must be a finite number >= 0")
    return number


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RoutingError(f"{where}: must be a list of strings")
    return tuple(value)


def parse(
    text: str,
    source: str,
    instruments: Mapping[Symbol, Instrument],
    accounts: Collection[AccountId],
    known_venues: Collection[str],
    default_sim_venues: Collection[str] = (),
) -> RuleSet:
    """Parse and check a routing rule set. ``known_venues``: the venues the OMS is connected to;
    ``default_sim_venues``: the built-in simulated ones, which a ``[[venues]]`` table replaces."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RoutingError(f"{source}: {exc}") from None
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise RoutingError(f"{source}: unknown setting(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(TOP_KEYS))})")
    venues: tuple[VenueSpec, ...] | None = None
    known = set(known_venues)
    if "venues" in data:
        venues = _venues(data["venues"], text, source, instruments)
        known |= {v.venue_id for v in venues}
    else:
        known |= set(default_sim_venues)

    def check_venues(names: tuple[str, ...], where: str) -> tuple[VenueId, ...]:
        for name in names:
            if name not in known:
                raise RoutingError(f"{where}: unknown venue {name!r} (known: {', '.join(sorted(known))})")
        return tuple(VenueId(n) for n in names)

    default = check_venues(_strings(data.get("default_venues", []), f"{source}:{_key_line(text, 0, 'default_venues')}"),
                           f"{source}:{_key_line(text, 0, 'default_venues')}: default_venues")
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list) or not all(isinstance(r, dict) for r in raw_rules):
        raise RoutingError(f"{source}: rules must be an array of tables ([[rules]])")
    lines = _lines_of(text, "rules")
    rules = []
    names: set[str] = set()
    for index, raw in enumerate(raw_rules):
        start = lines[index] if index < len(lines) else 0

        def at(key: str, start: int = start) -> str:
            return f"{source}:{_key_line(text, start, key)}"

        unknown = set(raw) - RULE_KEYS
        if unknown:
            raise RoutingError(f"{at(sorted(unknown)[0])}: unknown rule setting(s) {', '.join(sorted(unknown))} "
                               f"(known: {', '.join(sorted(RULE_KEYS))})")
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            raise RoutingError(f"{source}:{start}: every rule needs a name")
        if name in names:
            raise RoutingError(f"{at('name')}: rule name {name!r} is used twice")
        names.add(name)
        symbols = _strings(raw.get("symbols", []), at("symbols"))
        for symbol in symbols:
            if symbol not in instruments:
                raise RoutingError(f"{at('symbols')}: rule {name!r}: unknown instrument {symbol!r}")
        for account in _strings(raw.get("accounts", []), at("accounts")):
            if account not in accounts:
                raise RoutingError(f"{at('accounts')}: rule {name!r}: unknown account {account!r}")
        asset_class = None
        if "asset_class" in raw:
            try:
                asset_class = AssetClass(raw["asset_class"])
            except ValueError:
                raise RoutingError(f"{at('asset_class')}: rule {name!r}: asset_class must be one of "
                                   f"{', '.join(a.value for a in AssetClass)}") from None
        strategy = raw.get("strategy", "rule")
        if strategy not in STRATEGIES:
            raise RoutingError(f"{at('strategy')}: rule {name!r}: strategy must be rule or sor, got {strategy!r}")
        for key in ("from_utc", "until_utc"):
            if key in raw and (not isinstance(raw[key], str) or minutes_of(raw[key]) is None):
                raise RoutingError(f"{at(key)}: rule {name!r}: {key} must be \"HH:MM\" (UTC), got {raw[key]!r}")
        low = _decimal(raw["min_quantity"], at("min_quantity")) if "min_quantity" in raw else None
        high = _decimal(raw["max_quantity"], at("max_quantity")) if "max_quantity" in raw else None
        if low is not None and high is not None and low > high:
            raise RoutingError(f"{at('max_quantity')}: rule {name!r}: max_quantity {high} is below min_quantity {low}")
        rules.append(RoutingRule(
            name=name, venues=check_venues(_strings(raw.get("venues", []), at("venues")), f"{at('venues')}: rule {name!r}"),
            strategy=strategy, symbols=frozenset(symbols), asset_class=asset_class,
            accounts=frozenset(_strings(raw.get("accounts", []), at("accounts"))), min_quantity=low, max_quantity=high,
            from_utc=str(raw.get("from_utc", "")), until_utc=str(raw.get("until_utc", "")), line=start,
        ))
    return RuleSet(tuple(rules), default, venues, text)


_VENUE_FIELDS = {f.name: f for f in fields(VenueSpec)}


def _venues(raw: Any, text: str, source: str, instruments: Mapping[Symbol, Instrument]) -> tuple[VenueSpec, ...]:
    if not isinstance(raw, list) or not all(isinstance(v, dict) for v in raw):
        raise RoutingError(f"{source}: venues must be an array of tables ([[venues]])")
    lines = _lines_of(text, "venues")
    specs = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        start = lines[index] if index < len(lines) else 0

        def at(key: str, start: int = start) -> str:
            return f"{source}:{_key_line(text, start, key)}"

        unknown = set(item) - set(_VENUE_FIELDS)
        if unknown:
            raise RoutingError(f"{at(sorted(unknown)[0])}: unknown venue setting(s) {', '.join(sorted(unknown))}")
        venue_id = item.get("venue_id")
        if not isinstance(venue_id, str) or not venue_id.strip():
            raise RoutingError(f"{source}:{start}: every venue needs a venue_id")
        if venue_id in seen:
            raise RoutingError(f"{at('venue_id')}: venue {venue_id!r} is listed twice")
        seen.add(venue_id)
        symbols = _strings(item.get("symbols", []), at("symbols"))
        for symbol in symbols:
            if symbol not in instruments:
                raise RoutingError(f"{at('symbols')}: venue {venue_id!r}: unknown instrument {symbol!r}")
        for key in ("open_utc", "close_utc"):
            if key in item and (not isinstance(item[key], str) or minutes_of(item[key]) is None):
                raise RoutingError(f"{at(key)}: venue {venue_id!r}: {key} must be \"HH:MM\" (UTC), got {item[key]!r}")
        values: dict[str, Any] = {"venue_id": VenueId(venue_id), "symbols": symbols}
        for key in ("taker_fee_bps", "maker_rebate_bps", "round_lot"):
            if key in item:
                values[key] = _decimal(item[key], at(key))
        if values.get("round_lot") == 0:
            raise RoutingError(f"{at('round_lot')}: venue {venue_id!r}: round_lot must be positive")
        for key in ("latency_us", "sim_spread_ticks", "sim_size_pct", "sim_latency_us"):
            if key in item:
                if not isinstance(item[key], int) or isinstance(item[key], bool) or item[key] < 0:
                    raise RoutingError(f"{at(key)}: venue {venue_id!r}: {key} must be a whole number >= 0")
                values[key] = item[key]
        for key in ("name", "open_utc", "close_utc"):
            if key in item:
                values[key] = str(item[key])
        specs.append(VenueSpec(**values))
    return tuple(specs)
