"""Write one trading day's export to a file: whole or not at all (a temporary file, then a rename)."""

from __future__ import annotations

import os
from pathlib import Path

from ..domain.accounts import ReferenceData
from ..service.ports import Journal
from .cat import cat_records, encode_line
from .day import Progress, day_bounds, walk_day
from .mifid import encode_row, header_line, mifid_rows

KINDS = ("cat", "mifid")


def export_day(journal: Journal, day: str, kind: str, out: Path, reference: ReferenceData,
               progress: Progress | None = None) -> int:
    """Write ``kind`` ("cat" JSON lines or "mifid" CSV) for ``day`` (YYYY-MM-DD, UTC) to ``out``;
    returns the number of records written."""
    day_bounds(day)  # a bad date fails before anything is read or written
    if kind not in KINDS:
        raise ValueError(f"export kind must be one of {KINDS}, got {kind!r}")
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    count = 0
    try:
        with open(partial, "w", encoding="utf-8", newline="") as handle:
            events = walk_day(journal, day, progress)
            if kind == "cat":
                for record in cat_records(events, reference):
                    handle.write(encode_line(record))
                    count += 1
            else:
                handle.write(header_line())
                for row in mifid_rows(events, reference):
                    handle.write(encode_row(row))
                    count += 1
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return count
