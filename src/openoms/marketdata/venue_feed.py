"""Simulated per-venue markets: each venue shows the consolidated simulator's market a little
wider and with its own sizes, drawn from a seeded generator, so venues differ from quote to
quote and the choice between them has consequences. Deterministic for a given seed."""

from __future__ import annotations

import random
from collections.abc import Sequence
from decimal import Decimal

from ..routing.venues import VenueSpec
from ..service.ports import Quote

HUNDRED = Decimal(100)


class VenueQuoteFan:
    def __init__(self, venues: Sequence[VenueSpec], tick_sizes: dict[str, Decimal], lot_sizes: dict[str, Decimal],
                 seed: int = 11) -> None:
        self.venues = tuple(venues)
        self._ticks = tick_sizes
        self._lots = lot_sizes
        self._rng = random.Random(seed)

    def fan(self, quote: Quote) -> list[tuple[VenueSpec, Quote]]:
        """One quote per venue trading the instrument, derived from the consolidated ``quote``."""
        tick = self._ticks.get(quote.symbol)
        if tick is None:
            return []
        lot = self._lots[quote.symbol]
        rng = self._rng
        out = []
        for spec in self.venues:
            if not spec.trades(quote.symbol):
                continue
            widen_bid = tick * rng.randint(0, spec.sim_spread_ticks)
            widen_ask = tick * rng.randint(0, spec.sim_spread_ticks)
            pct = Decimal(spec.sim_size_pct * rng.randint(50, 150)) / HUNDRED / HUNDRED
            bids = tuple((price - widen_bid, _lots(size * pct, lot)) for price, size in quote.bids)
            asks = tuple((price + widen_ask, _lots(size * pct, lot)) for price, size in quote.asks)
            bids = tuple(level for level in bids if level[0] > 0)
            out.append((spec, Quote(
                symbol=quote.symbol, ts=quote.ts,
                bid=bids[0][0] if bids else quote.bid, ask=asks[0][0] if asks else quote.ask,
                bid_size=bids[0][1] if bids else Decimal(0), ask_size=asks[0][1] if asks else Decimal(0),
                last=quote.last, last_size=_lots(quote.last_size * pct, lot), volume=_lots(quote.volume * pct, lot),
                bids=bids, asks=asks, halted=quote.halted,
            )))
        return out


def _lots(size: Decimal, lot: Decimal) -> Decimal:
    """Whole lots, at least one."""
    whole = (size // lot) * lot
    return whole if whole > 0 else lot
