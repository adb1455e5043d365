"""A seeded random-walk quote generator for demos and tests.

Pure with respect to time: the caller passes ``now_ns`` and decides how often to tick, so a
given seed and sequence of ``tick`` calls always yields the same quotes. Prices are held as
whole numbers of ticks and only turned into ``Decimal`` as ``tick_size * n``, which is exact,
so every generated price is tick-aligned by construction. Floats appear only inside the random
generator (the Gaussian step) and are rounded to whole ticks at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from ..domain.ids import Symbol
from ..domain.instruments import AssetClass, Instrument
from ..service.ports import Quote

DEPTH = 5
# The bid never walks below this many ticks, so even the 5th bid level stays above zero.
MIN_BID_TICKS = DEPTH
# One step's standard deviation as a fraction of the price (1 basis point), floored at 1 tick,
# so instruments with very different prices and tick sizes move at a similar relative pace.
STEP_FRACTION = 1e-4
MAX_SPREAD_TICKS = 3


@dataclass(frozen=True, slots=True)
class SizeRule:
    """Displayed sizes are ``unit * randint(low, high)``, then rounded up to the lot size."""

    unit: Decimal
    low: int
    high: int


SIZE_RULES: dict[AssetClass, SizeRule] = {
    AssetClass.EQUITY: SizeRule(Decimal(100), 1, 20),  # 100 to 2,000 shares
    AssetClass.BOND: SizeRule(Decimal(1_000_000), 1, 10),  # face value in millions
    AssetClass.FUTURE: SizeRule(Decimal(1), 5, 200),  # contracts
    AssetClass.OPTION: SizeRule(Decimal(1), 5, 200),
}


@dataclass(slots=True)
class _Walk:
    """Mutable per-instrument state: where the bid is (in ticks) and the day's volume."""

    instrument: Instrument
    rule: SizeRule
    sigma: float
    bid_ticks: int
    volume: Decimal
    quote: Quote | None = None


class MarketDataSimulator:
    """One random-walk step per instrument per ``tick``; deterministic for a given seed.

    ``halt_probability`` is the chance, per instrument per tick, that the quote is marked halted
    (no venue matching against it); halts last one tick.
    """

    def __init__(
        self,
        instruments: dict[Symbol, Instrument],
        start_prices: dict[str, Decimal],
        seed: int = 7,
        halt_probability: float = 0.0,
    ) -> None:
        if not 0.0 <= halt_probability <= 1.0:
            raise ValueError(f"halt_probability must be within [0, 1], got {halt_probability}")
        self._rng = random.Random(seed)
        self._halt_probability = halt_probability
        self._walks: dict[Symbol, _Walk] = {}
        # Sorted so the random stream is consumed in the same order whatever the dict order.
        for symbol in sorted(instruments):
            instrument = instruments[symbol]
            start = start_prices.get(symbol)
            if start is None:
                raise ValueError(f"no start price for {symbol}")
            ticks = int((start / instrument.tick_size).to_integral_value(ROUND_HALF_EVEN))
            walk = _Walk(
                instrument=instrument,
                rule=SIZE_RULES[instrument.asset_class],
                sigma=max(1.0, ticks * STEP_FRACTION),
                bid_ticks=max(MIN_BID_TICKS, ticks),
                volume=Decimal(0),
            )
            # An opening quote at the start price, so ``quote`` answers before the first tick.
            walk.quote = self._make_quote(walk, 0)
            self._walks[symbol] = walk

    @property
    def symbols(self) -> list[Symbol]:
        return list(self._walks)

    def quote(self, symbol: str) -> Quote:
        """The current quote for ``symbol``; KeyError for a symbol this simulator does not run."""
        quote = self._walks[Symbol(symbol)].quote
        assert quote is not None  # set in __init__
        return quote

    def tick(self, now_ns: int) -> list[Quote]:
        """Advance every instrument one step and return the new quotes (in symbol order)."""
        rng = self._rng
        out: list[Quote] = []
        for walk in self._walks.values():
            move = round(rng.gauss(0.0, walk.sigma))
            walk.bid_ticks = max(MIN_BID_TICKS, walk.bid_ticks + move)
            quote = self._make_quote(walk, now_ns)
            walk.quote = quote
            out.append(quote)
        return out

    def _size(self, walk: _Walk) -> Decimal:
        rule = walk.rule
        lot = walk.instrument.lot_size
        size = rule.unit * self._rng.randint(rule.low, rule.high)
        remainder = size % lot
        if remainder:
            size += lot - remainder  # round up: a displayed size is always whole lots
        return size

    def _make_quote(self, walk: _Walk, now_ns: int) -> Quote:
        rng = self._rng
        tick = walk.instrument.tick_size
        bid = walk.bid_ticks
        ask = bid + rng.randint(1, MAX_SPREAD_TICKS)
        bids = tuple((tick * (bid - i), self._size(walk)) for i in range(DEPTH))
        asks = tuple((tick * (ask + i), self._size(walk)) for i in range(DEPTH))
        last = tick * rng.randint(bid, ask)  # a trade at or inside the spread
        last_size = self._size(walk)
        walk.volume += last_size
        halted = self._halt_probability > 0.0 and rng.random() < self._halt_probability
        return Quote(
            symbol=walk.instrument.symbol,
            ts=now_ns,
            bid=bids[0][0],
            ask=asks[0][0],
            bid_size=bids[0][1],
            ask_size=asks[0][1],
            last=last,
            last_size=last_size,
            volume=walk.volume,
            bids=bids,
            asks=asks,
            halted=halted,
        )
