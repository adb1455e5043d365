"""Replay of recorded quotes from CSV or Parquet at a chosen speed.

One row per venue quote: ``ts`` (ns since the epoch, UTC), ``symbol``, ``venue``, ``bid``,
``bid_size``, ``ask``, ``ask_size``, and optionally ``last``, ``last_size``, ``volume``,
``halted`` (true/false). Prices and sizes are read as Decimal from the text.

A ``.parquet`` file has the same columns: ``ts`` an integer, prices and sizes decimal (or
integer or string) columns, never floating point (a binary float cannot hold 190.05 exactly,
so such a column is refused, by name, rather than rounded), ``halted`` a boolean. It is read
batch by batch, so a day of quotes is never held in memory at once. ``schedule``
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


NUMBERS = ("bid", "bid_size", "ask", "ask_size", "last", "last_size", "volume")


def read_quotes(path: Path) -> Iterator[tuple[str, Quote]]:
    """(venue, quote) per row, in file order; Parquet by the ``.parquet`` suffix, else CSV."""
    if path.suffix.lower() == ".parquet":
        yield from read_parquet(path)
        return
    with path.open(newline="") as handle:
        yield from parse_rows(csv.DictReader(handle), str(path))


def read_parquet(path: Path) -> Iterator[tuple[str, Quote]]:
    import pyarrow as pa  # only a Parquet replay needs it
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise ReplayError(f"{path}: not a readable Parquet file: {exc}") from None
    schema = parquet.schema_arrow
    missing = [name for name in REQUIRED if schema.get_field_index(name) < 0]
    if missing:
        raise ReplayError(f"{path}: missing column(s) {', '.join(missing)} (has {', '.join(schema.names)})")
    for name in (*NUMBERS, "ts"):
        if schema.get_field_index(name) < 0:
            continue
        kind = schema.field(name).type
        exact = pa.types.is_integer(kind) if name == "ts" else (
            pa.types.is_decimal(kind) or pa.types.is_integer(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind))
        if not exact:
            wanted = "an integer (ns since the epoch, UTC)" if name == "ts" else "decimal, integer or string (exact)"
            raise ReplayError(f"{path}: column {name!r} is {kind}: it must be {wanted}")
    columns = [name for name in (*REQUIRED, "last", "last_size", "volume", "halted") if schema.get_field_index(name) >= 0]

    def rows() -> Iterator[dict[str, str]]:
        try:
            for batch in parquet.iter_batches(columns=columns):
                for row in batch.to_pylist():
                    yield {key: _text(value) for key, value in row.items()}
        except pa.ArrowException as exc:
            raise ReplayError(f"{path}: unreadable: {exc}") from None

    yield from parse_rows(rows(), str(path), first=1, where="row")


def _text(value: object) -> str:
    """A Parquet value as the CSV text parse_rows reads (None: missing; Decimal and int exact)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_rows(rows: Iterable[dict[str, str]], source: str, first: int = 2, where: str = "") -> Iterator[tuple[str, Quote]]:
    """CSV rows are named ``file:line`` (line 1 is the header); Parquet rows ``file row n``."""
    for line, row in enumerate(rows, first):
        at = f"{source} {where} {line}" if where else f"{source}:{line}"
        missing = [name for name in REQUIRED if not row.get(name)]
        if missing:
            raise ReplayError(f"{at}: missing {', '.join(missing)}")
        try:
            bid, ask = Decimal(row["bid"]), Decimal(row["ask"])
            bid_size, ask_size = Decimal(row["bid_size"]), Decimal(row["ask_size"])
            last = Decimal(row["last"]) if row.get("last") else bid
            last_size = Decimal(row["last_size"]) if row.get("last_size") else Decimal(0)
            volume = Decimal(row["volume"]) if row.get("volume") else Decimal(0)
            ts = int(row["ts"])
        except (InvalidOperation, ValueError):
            bad = [name for name in (*NUMBERS, "ts") if row.get(name) and not _parses(row[name], name == "ts")]
            raise ReplayError(f"{at}: column(s) {', '.join(bad) or '?'} do not parse: {row}") from None
        if not all(n.is_finite() and n >= 0 for n in (bid, ask, bid_size, ask_size, last, last_size, volume)):
            raise ReplayError(f"{at}: prices and sizes must be finite and >= 0")
        yield row["venue"], Quote(
            symbol=Symbol(row["symbol"]), ts=ts, bid=bid, ask=ask, bid_size=bid_size, ask_size=ask_size, last=last,
            last_size=last_size, volume=volume, bids=((bid, bid_size),), asks=((ask, ask_size),),
            halted=row.get("halted", "").strip().lower() == "true",
        )


def _parses(text: str, integer: bool) -> bool:
    try:
        int(text) if integer else Decimal(text)
    except (InvalidOperation, ValueError):
        return False
    return True


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
