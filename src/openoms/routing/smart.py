"""The smart order router's allocation: pure arithmetic over the venues' displayed depth.

For a buy, every displayed ask level of every eligible venue at or under the limit is ranked
by its all-in price (price plus the venue's taker fee; for a sell, price minus the fee), then
venue health (degraded after up), historical fill rate and latency, and taken best first until
the quantity is covered, each take rounded down to the venue's lot. What the displayed depth
cannot cover goes to one venue to rest (limit orders: the best all-in touch, maker rebate on a
tie) or to sweep further (market orders: the deepest venue). Allocations always sum to the
quantity, or the result says why they cannot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from ..domain.ids import VenueId

ZERO = Decimal(0)
BPS = Decimal(10_000)


@dataclass(slots=True)  # not frozen: built per venue per decision, and frozen fields are set the slow way
class VenueDepth:
    """What the SOR knows of one eligible venue."""

    venue: VenueId
    levels: tuple[tuple[Decimal, Decimal], ...]  # the side the order takes: asks for a buy, bids for a sell; best first
    taker_fee_bps: Decimal = ZERO
    maker_rebate_bps: Decimal = ZERO
    round_lot: Decimal = Decimal(1)
    degraded: bool = False
    fill_rate: Decimal = Decimal(1)  # filled / routed, historically (1 with no history)
    latency_us: int = 0


@dataclass(slots=True)
class Allocation:
    allocations: tuple[tuple[VenueId, Decimal], ...]  # venue order: first taken first
    notes: tuple[str, ...]
    problem: str = ""  # non-empty: no valid allocation (allocations then empty)


def allocate(is_buy: bool, quantity: Decimal, limit: Decimal | None, venues: Sequence[VenueDepth]) -> Allocation:
    if not venues:
        return Allocation((), (), "no eligible venue")
    ranked = []
    for index, depth in enumerate(venues):
        fee = depth.taker_fee_bps / BPS
        factor = 1 + fee if is_buy else fee - 1  # a sell ranks by minus what it receives, so lower is better
        tie = (depth.degraded, -depth.fill_rate, depth.latency_us, index)
        for price, size in depth.levels:
            if limit is not None and (price > limit if is_buy else price < limit):
                break  # levels are best first: the rest are worse still
            ranked.append((price * factor, tie, price, size))
    ranked.sort()
    taken: dict[int, Decimal] = {}
    worst: dict[int, Decimal] = {}
    remaining = quantity
    for _, tie, price, size in ranked:
        if remaining <= ZERO:
            break
        index = tie[3]
        lot = venues[index].round_lot
        take = min(size, remaining)
        take -= take % lot
        if take <= ZERO:
            continue
        taken[index] = taken.get(index, ZERO) + take
        worst[index] = price
        remaining -= take
    notes = [f"{venues[i].venue}: takes {q} displayed up to {worst[i]} (fee {venues[i].taker_fee_bps} bps)"
             for i, q in taken.items()]
    if remaining > ZERO:
        home = _home(is_buy, remaining, limit, venues)
        if home is None:
            return Allocation((), tuple(notes), f"{remaining} cannot be placed: no venue takes that quantity in its lots")
        taken[home] = taken.get(home, ZERO) + remaining
        what = "rests" if limit is not None else "sweeps on"
        notes.append(f"{venues[home].venue}: {remaining} beyond the displayed depth {what} there")
    allocations = tuple((venues[i].venue, q) for i, q in taken.items())
    return Allocation(allocations, tuple(notes))


def _home(is_buy: bool, quantity: Decimal, limit: Decimal | None, venues: Sequence[VenueDepth]) -> int | None:
    """Where what the displayed depth cannot cover goes: the best all-in touch (limit) or the
    deepest book (market), among venues whose lot divides it; up venues before degraded ones."""
    best: tuple[object, ...] | None = None
    chosen = None
    for index, depth in enumerate(venues):
        if quantity % depth.round_lot:
            continue
        if limit is None:
            key: tuple[object, ...] = (depth.degraded, -sum((size for _, size in depth.levels), ZERO), index)
        else:
            touch = depth.levels[0][0] if depth.levels else limit
            fee = depth.taker_fee_bps / BPS
            all_in = touch * (1 + fee) if is_buy else -(touch * (1 - fee))
            key = (depth.degraded, all_in, -depth.maker_rebate_bps, -depth.fill_rate, index)
        if best is None or key < best:  # type: ignore[operator]
            best, chosen = key, index
    return chosen
