"""Venues as routing sees them: their terms (fees, latency, lots, hours) and their health.

``VenueSpec`` is reference data, loaded from the routing file (``[[venues]]``) or the defaults
below; ``VenueHealth`` is live state (up, degraded, down) that operators and gateways set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum

from ..domain.ids import VenueId

NS_PER_MINUTE = 60_000_000_000
NS_PER_DAY = 86_400_000_000_000
BPS = Decimal(10_000)


class VenueState(str, Enum):
    UP = "up"
    DEGRADED = "degraded"  # used only when no venue that is up can take the order
    DOWN = "down"  # never routed to


def minutes_of(hhmm: str) -> int | None:
    """Minutes after midnight of "HH:MM", or None if it is not such a time."""
    hours, sep, minutes = hhmm.partition(":")
    if not sep or not (hours.isdigit() and minutes.isdigit()) or len(minutes) != 2:
        return None
    h, m = int(hours), int(minutes)
    return h * 60 + m if h < 24 and m < 60 else None


def within(now: int, start: str, end: str) -> bool:
    """Whether UTC time ``now`` (ns) is in [start, end) of its day; an empty bound is open.
    A window whose end is before its start spans midnight."""
    if not start and not end:
        return True
    minute = (now % NS_PER_DAY) // NS_PER_MINUTE
    first = minutes_of(start) if start else 0
    last = minutes_of(end) if end else 24 * 60
    assert first is not None and last is not None  # validated when loaded
    if first <= last:
        return first <= minute < last
    return minute >= first or minute < last


@dataclass(frozen=True, slots=True)
class VenueSpec:
    venue_id: VenueId
    name: str = ""
    taker_fee_bps: Decimal = Decimal(0)  # paid on liquidity taken
    maker_rebate_bps: Decimal = Decimal(0)  # earned on liquidity that rests and is taken
    latency_us: int = 0  # one-way, as measured; the SOR prefers the faster venue on a tie
    round_lot: Decimal = Decimal(1)  # the venue takes quantities in multiples of this
    open_utc: str = ""  # trading hours, "HH:MM" UTC; empty: always open
    close_utc: str = ""
    # Simulation only: how its displayed market differs from the consolidated simulator's.
    sim_spread_ticks: int = 0  # extra ticks each side, at most (drawn per quote)
    sim_size_pct: int = 100  # displayed size, % of the simulator's
    # One-way delay of the simulated venue, each way (request in, answer out), so a fill can
    # cross a cancel or replace on its way; 0 (default): it answers at once.
    sim_latency_us: int = 0
    symbols: tuple[str, ...] = ()  # empty: every instrument

    def is_open(self, now: int) -> bool:
        return within(now, self.open_utc, self.close_utc)

    def trades(self, symbol: str) -> bool:
        return not self.symbols or symbol in self.symbols


# Three simulated exchanges with different terms, so the choice between them matters.
DEFAULT_VENUES: tuple[VenueSpec, ...] = (
    VenueSpec(VenueId("SIM-A"), "Simulated exchange A (tight, expensive)", taker_fee_bps=Decimal("0.30"),
              maker_rebate_bps=Decimal("0.20"), latency_us=80, sim_spread_ticks=1, sim_size_pct=60),
    VenueSpec(VenueId("SIM-B"), "Simulated exchange B (deep, cheap)", taker_fee_bps=Decimal("0.10"),
              maker_rebate_bps=Decimal("0.05"), latency_us=150, sim_spread_ticks=3, sim_size_pct=150),
    VenueSpec(VenueId("SIM-C"), "Simulated exchange C (round lots)", taker_fee_bps=Decimal("0.20"),
              maker_rebate_bps=Decimal("0.10"), latency_us=300, round_lot=Decimal(100), sim_spread_ticks=2,
              sim_size_pct=100),
)


@dataclass(slots=True)
class VenueHealth:
    """Connectivity state per venue: set by operators (REST) and by gateways that lose their session."""

    states: dict[VenueId, tuple[VenueState, str]] = field(default_factory=dict)

    def state(self, venue: VenueId) -> VenueState:
        held = self.states.get(venue)
        return held[0] if held is not None else VenueState.UP

    def reason(self, venue: VenueId) -> str:
        held = self.states.get(venue)
        return held[1] if held is not None else ""

    def set(self, venue: VenueId, state: VenueState, reason: str = "") -> None:
        self.states[venue] = (state, reason)
