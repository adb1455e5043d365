"""Replay of recorded quotes from CSV at a chosen speed.

One row per venue quote: ``ts`` (ns since the epoch, UTC), ``symbol``, ``venue``, ``bid``,
``bid_size``, ``ask``, ``ask_size``, and optionally ``last``, ``last_size``, ``volume``,
``halted`` (true/false). Prices and sizes are read as Decimal from the text. ``schedule``
turns recorded times into delays at ``speed`` (2.0: twice as fast; 0: as fast as possible),
so the I/O loop that sleeps stays a thin shell over this pure part.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path

from ..domain.ids import Symbol
from ..service.ports import Quote

REQUIRED = ("ts", "symbol", "venue", "bid", "bid_size", "ask", "ask_size")


class ReplayError(ValueError):
    """A row that cannot be replayed; the message names the file and line."""


def read_quotes(path: Path) -> Iterator[tuple[str, Quote]]:
    """(venue, quote) per row, in file order."""
    with path.open(newline="") as handle:
        yield from parse_rows(csv.DictReader(handle), str(path))


def parse_rows(rows: Iterable[dict[str, str]], source: str) -> Iterator[tuple[str, Quote]]:
    for line, row in enumerate(rows, 2):  # line 1 is the header
        missing = [name for name in REQUIRED if not row.get(name)]
        if missing:
            raise ReplayError(f"{source}:{line}: missing {', '.join(missing)}")
        try:
            bid, ask = Decimal(row["bid"]), Decimal(row["ask"])
            bid_size, ask_size = Decimal(row["bid_size"]), Decimal(row["ask_size"])
            last = Decimal(row["last"]) if row.get("last") else bid
            last_size = Decimal(row["last_size"]) if row.get("last_size") else Decimal(0)
            volume = Decimal(row["volume"]) if row.get("volume") else Decimal(0)
            ts = int(row["ts"])
        except (InvalidOperation, ValueError):
            raise ReplayError(f"{source}:{line}: a number does not parse: {row}") from None
        if not all(n.is_finite() and n >= 0 for n in (bid, ask, bid_size, ask_size, last, last_size, volume)):
            raise ReplayError(f"{source}:{line}: prices and sizes must be finite and >= 0")
        yield row["venue"], Quote(
            symbol=Symbol(row["symbol"]), ts=ts, bid=bid, ask=ask, bid_size=bid_size, ask_size=ask_size, last=last,
            last_size=last_size, volume=volume, bids=((bid, bid_size),), asks=((ask, ask_size),),
            halted=row.get("halted", "").strip().lower() == "true",
        )


def schedule(quotes: Iterable[tuple[str, Quote]], speed: float) -> Iterator[tuple[float, str, Quote]]:
    """(seconds to wait before this quote, venue, quote); a recorded time that steps back waits 0."""
    if speed < 0:
        raise ReplayError(f"speed must be >= 0, got {speed}")
    previous: int | None = None
    for venue, quote in quotes:
        wait = 0.0
        if previous is not None and speed > 0 and quote.ts > previous:
            wait = (quote.ts - previous) / 1e9 / speed
        previous = quote.ts if previous is None else max(previous, quote.ts)
        yield wait, venue, quote
